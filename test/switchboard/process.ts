// Runs the real tml-switchboard and tml executables for tests.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

export const SWITCHBOARD_CLI = fileURLToPath(new URL('../../switchboard/cli.js', import.meta.url));
export const TML_CLI = fileURLToPath(new URL('../../tml/cli.js', import.meta.url));

export function admin(
  args: string[],
  input?: string,
  env: Record<string, string> = {},
): { status: number | null; stdout: string; stderr: string } {
  const base = { ...process.env };
  delete base.TML_SWITCHBOARD_DB;
  const r = spawnSync(process.execPath, [SWITCHBOARD_CLI, ...args], {
    input,
    encoding: 'utf8',
    env: { ...base, ...env },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export function adminOk(args: string[], input?: string, env: Record<string, string> = {}): string {
  const r = admin(args, input, env);
  if (r.status !== 0) throw new Error(`tml-switchboard ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout.trim();
}

export interface ServeProcess {
  child: ChildProcess;
  url: string;
  stderr: () => string;
  exited: Promise<number | null>;
}

export async function serve(db: string, extra: string[] = [], listen = '127.0.0.1:0'): Promise<ServeProcess> {
  const child = spawn(process.execPath, [SWITCHBOARD_CLI, 'serve', '--listen', listen, '--db', db, ...extra], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const lines = createInterface({ input: child.stdout! });
  const url = await new Promise<string>((resolve, reject) => {
    lines.once('line', (line) => {
      const m = /^listening on (http:\/\/\S+)$/.exec(line);
      if (m) resolve(m[1]!);
      else reject(new Error(`unexpected first line: ${line}`));
    });
    void exited.then((code) => reject(new Error(`switchboard exited with ${code}: ${err}`)));
  });
  return { child, url, stderr: () => err, exited };
}

export interface TmlResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `tml` asynchronously (the server may live in this process). */
export function tml(
  args: string[],
  env: Record<string, string>,
  opts: { onSpawn?: (c: ChildProcess) => void; input?: string } = {},
): Promise<TmlResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [TML_CLI, ...args], {
      env: { ...process.env, ...env },
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    if (opts.input !== undefined) child.stdin!.end(opts.input);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('close', (status) => resolve({ status, stdout, stderr }));
    opts.onSpawn?.(child);
  });
}
