// Running this package's CLIs as child processes, for the demo and the end-to-end test: one-shot
// commands with captured output, and long-running services that are always stopped again.

import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

/** A compiled CLI of this package; `dist/scripts/` sits next to `dist/<area>/`. */
export function cliPath(relative: string): string {
  return fileURLToPath(new URL(`../${relative}`, import.meta.url));
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export class CommandError extends Error {}

/** Runs `node CLI ARGS...`; rejects with the command's stderr unless it exits with one of okCodes. */
export async function runCli(
  cli: string,
  args: string[],
  opts: { env: NodeJS.ProcessEnv; input?: string; okCodes?: number[]; signal?: AbortSignal },
): Promise<RunResult> {
  const child = spawn(process.execPath, [cli, ...args], {
    env: opts.env,
    stdio: ['pipe', 'pipe', 'pipe'],
    signal: opts.signal,
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  child.stdin.end(opts.input ?? '');
  const [code] = (await once(child, 'close')) as [number | null];
  const result = { code, stdout, stderr };
  if (!(opts.okCodes ?? [0]).includes(code ?? -1)) {
    const name = cli.split('/').slice(-2).join('/');
    throw new CommandError(
      `${name} ${args[0] ?? ''} failed (exit ${code}): ${stderr.trim() || stdout.trim() || 'no output'}`,
    );
  }
  return result;
}

/** A long-running child; its output is kept in memory for diagnostics and checks. */
export class Service {
  stdout = '';
  stderr = '';
  readonly exited: Promise<number | null>;
  private readonly child: ChildProcess;

  constructor(
    readonly name: string,
    cli: string,
    args: string[],
    env: NodeJS.ProcessEnv,
  ) {
    this.child = spawn(process.execPath, [cli, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout!.setEncoding('utf8').on('data', (s: string) => (this.stdout += s));
    this.child.stderr!.setEncoding('utf8').on('data', (s: string) => (this.stderr += s));
    this.exited = new Promise((resolve) => {
      this.child.once('close', (code) => resolve(code));
      this.child.once('error', () => resolve(null));
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Resolves with the first stdout line matching re; rejects if the service exits or time runs out first. */
  async waitForLine(re: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const match = this.stdout.match(re);
      if (match) return match;
      if (!this.running) throw new CommandError(`${this.name} exited early: ${this.stderr.trim() || 'no output'}`);
      if (Date.now() > deadline)
        throw new CommandError(`${this.name} did not start within ${timeoutMs / 1000} s: ${this.stderr.trim()}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Kills it at once (a crash, for tests of recovery). */
  async kill(): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGKILL');
    await this.exited;
  }

  /** SIGTERM, then SIGKILL if it is still there after graceMs. */
  async stop(graceMs = 5000): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}
