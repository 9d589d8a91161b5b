// Runs the real `tml` in a home of its own: HOME and the XDG directories point into a temporary
// directory, and no TML_ variable of the caller's leaks in, so a test sees only the settings it
// makes.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TML_CLI } from '../switchboard/process.js';

export interface Home {
  dir: string;
  env: Record<string, string>;
  /** $XDG_CONFIG_HOME/treadmill-tb */
  configDir: string;
  /** $XDG_DATA_HOME/treadmill-tb */
  dataDir: string;
  cleanup(): void;
}

export function makeHome(opts: { xdg?: boolean } = {}): Home {
  const dir = mkdtempSync(join(tmpdir(), 'tml-home-'));
  const xdg = opts.xdg ?? true;
  const env: Record<string, string> = { HOME: dir, XDG_CONFIG_DIRS: join(dir, 'etc-xdg') };
  if (xdg) {
    env.XDG_CONFIG_HOME = join(dir, 'config');
    env.XDG_DATA_HOME = join(dir, 'data');
  }
  const configDir = join(xdg ? env.XDG_CONFIG_HOME! : join(dir, '.config'), 'treadmill-tb');
  const dataDir = join(xdg ? env.XDG_DATA_HOME! : join(dir, '.local', 'share'), 'treadmill-tb');
  mkdirSync(configDir, { recursive: true });
  return { dir, env, configDir, dataDir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface Result {
  status: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** The caller's environment without its Treadmill and XDG settings. */
function baseEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !k.startsWith('TML_') && !k.startsWith('XDG_')) env[k] = v;
  }
  return env;
}

export function runTml(
  args: string[],
  home: Home,
  opts: { env?: Record<string, string>; input?: string; onSpawn?: (c: ChildProcess) => void } = {},
): Promise<Result> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [TML_CLI, ...args], {
      env: { ...baseEnv(), ...home.env, ...opts.env },
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    if (opts.input !== undefined) child.stdin!.end(opts.input);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('close', (status) => resolve({ status, stdout, stderr, ms: Date.now() - started }));
    opts.onSpawn?.(child);
  });
}
