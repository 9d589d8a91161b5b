import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ExecutionContext } from 'ava';

/** dist/imagetool/cli.js, found from this compiled file (dist/test/imagetool/helpers.js). */
export const CLI = fileURLToPath(new URL('../../imagetool/cli.js', import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function startCli(args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): ChildProcess {
  return spawn(process.execPath, [CLI, ...args], {
    env: { ...process.env, ...opts.env },
    cwd: opts.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

export function runCli(args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = startCli(args, opts);
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A fresh temp directory removed when the test ends. */
export async function tempDir(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tml-imagetool-test-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Creates an image with the CLI from small files written here; returns its ID. */
export async function createSample(
  t: ExecutionContext,
  store: string,
  dir: string,
  blobs: Record<string, string | Uint8Array> = { boot: '#!/bin/sh\necho hi\n', data: 'some data\n' },
  label = 'sample',
): Promise<string> {
  const args = ['--store', store, 'create', '--label', label];
  for (const [name, content] of Object.entries(blobs)) {
    const file = join(dir, `${label}-${name}.bin`);
    await writeFile(file, content);
    args.push('--blob', `${name}=${file}`);
  }
  const r = await runCli(args);
  t.is(r.code, 0, r.stderr);
  return r.stdout.trim();
}

export interface JsonReport {
  ok: boolean;
  findings: Array<{ kind: string; path: string; message: string }>;
}

export async function verifyJson(
  store: string,
  ids: string[] = [],
): Promise<{ code: number | null; report: JsonReport }> {
  const r = await runCli(['--store', store, 'verify', '--json', ...ids]);
  return { code: r.code, report: JSON.parse(r.stdout) as JsonReport };
}
