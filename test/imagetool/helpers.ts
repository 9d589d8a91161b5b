import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmdirSync } from 'node:fs';
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

/**
 * Whether an outside tool runs (`command args` exits 0). When it does not, says so in one loud line naming
 * the package that brings it, so the caller can skip its group; with TML_TEST_REQUIRE_ALL=1 a missing tool
 * fails the test file instead.
 */
export function haveTool(what: string, command: string, args: string[], install: string): boolean {
  const r = spawnSync(command, args, { stdio: 'ignore' });
  if (r.status === 0) return true;
  const line = `MISSING TOOL: ${what} is not available (${install}); skipping the tests that need it`;
  if (process.env.TML_TEST_REQUIRE_ALL === '1') throw new Error(`${line} (TML_TEST_REQUIRE_ALL=1)`);
  process.stderr.write(`\n*** ${line} ***\n\n`);
  return false;
}

/** Whether this process may mount a tmpfs (root, or a user namespace that allows it): the full-disk tests need it. */
export function canMountTmpfs(): boolean {
  const dir = mkdtempSync(join(tmpdir(), 'tml-tmpfs-probe-'));
  try {
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir], { stdio: 'ignore' });
    if (mounted.status === 0) {
      spawnSync('umount', [dir], { stdio: 'ignore' });
      return true;
    }
  } finally {
    rmdirSync(dir);
  }
  return haveTool('mount -t tmpfs (root)', 'false', [], 'run the tests as root to mount a small tmpfs');
}

/** A tmpfs of `bytes` mounted for this test (a disk that fills up), unmounted when the test ends. */
export async function smallDisk(t: ExecutionContext, bytes: number): Promise<string> {
  const dir = await tempDir(t);
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes}`, 'tmpfs', dir], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`mount -t tmpfs failed: ${r.stderr}`);
  t.teardown(() => {
    spawnSync('umount', [dir]);
  });
  return dir;
}
