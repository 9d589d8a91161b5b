// The outside programs the qemu host runs besides QEMU: qemu-img (chain check, overlay) and the
// operator's start script. Each failure becomes one line that names the program and its complaint.

import { execFile, spawn } from 'node:child_process';
import { parseQemuImgInfo, type Qcow2Info } from './chain.js';

export class ToolError extends Error {}

function firstLine(text: string): string {
  return (
    text
      .trim()
      .split('\n')
      .find((l) => l.trim() !== '')
      ?.trim()
      .slice(0, 300) ?? ''
  );
}

function run(binary: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(binary, args, { timeout: timeoutMs, maxBuffer: 4 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err === null) return resolve(stdout);
      const e = err as NodeJS.ErrnoException & { killed?: boolean };
      if (e.code === 'ENOENT')
        return reject(new ToolError(`${binary} not found (Debian/Ubuntu: apt-get install qemu-utils)`));
      if (e.killed) return reject(new ToolError(`${binary} ${args[0]} took longer than ${timeoutMs / 1000} s`));
      reject(new ToolError(firstLine(stderr) || e.message.split('\n')[0]!));
    });
  });
}

export async function qemuImgInfo(qemuImg: string, path: string): Promise<Qcow2Info> {
  const out = await run(qemuImg, ['info', '--format=qcow2', '--output=json', path], 60_000);
  let json: unknown;
  try {
    json = JSON.parse(out);
  } catch {
    throw new ToolError('qemu-img info printed no JSON');
  }
  return parseQemuImgInfo(json);
}

/** The per-job overlay on the head blob (upstream's exact invocation). */
export async function createOverlay(qemuImg: string, backing: string, path: string, sizeBytes: number): Promise<void> {
  await run(qemuImg, ['create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', backing, path, String(sizeBytes)], 60_000);
}

export interface ScriptRun {
  done: Promise<string>;
  kill(): void;
}

const MAX_SCRIPT_STDOUT = 256 * 1024;

/** Runs the start script; resolves with its stdout, rejects with a one-line reason. */
export function runStartScript(
  script: string,
  env: Record<string, string>,
  timeoutMs: number,
  onStderrLine: (line: string) => void,
): ScriptRun {
  const child = spawn(script, [], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  const done = new Promise<string>((resolve, reject) => {
    let out = '';
    let lastErr = '';
    let partial = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (c: Buffer) => {
      if (out.length < MAX_SCRIPT_STDOUT) out += c.toString('utf8');
    });
    child.stderr.on('data', (c: Buffer) => {
      const lines = (partial + c.toString('utf8')).split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) {
        if (l.trim() === '') continue;
        lastErr = l.trim();
        onStderrLine(l);
      }
    });
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(new ToolError(`cannot run start script ${script}: ${e.message}`));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (partial.trim() !== '') lastErr = partial.trim();
      if (code === 0) return resolve(out);
      const how = signal !== null ? `was killed by ${signal}` : `exited with code ${code}`;
      reject(new ToolError(`start script ${script} ${how}${lastErr ? `: ${lastErr.slice(0, 300)}` : ''}`));
    });
  });
  return { done, kill: () => child.kill('SIGKILL') };
}
