// `tml-puppet job run`: run the workload with inherited stdio and report how it ended.

import { spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:os';
import type { WorkloadExitStatus } from '../protocol/control-socket/messages.js';

export interface Outcome {
  status: WorkloadExitStatus;
  /** what this CLI exits with: the command's code, 128+N for signal N, 127 if it could not start */
  exitCode: number;
  summary: string;
  /** set when the command could not be started at all; `summary` then says why */
  startError?: string;
}

/** Pure mapping from how a process ended to the report and our exit code. */
export function outcomeOf(command: string, code: number | null, signal: NodeJS.Signals | null): Outcome {
  if (signal !== null) {
    const n = constants.signals[signal] ?? 0;
    return { status: 'unknown', exitCode: 128 + n, summary: `${command} was killed by ${signal}` };
  }
  if (code === 0) return { status: 'success', exitCode: 0, summary: `${command} exited with code 0` };
  return { status: 'error', exitCode: code ?? 1, summary: `${command} exited with code ${code}` };
}

const SPAWN_ERRORS: Record<string, string> = {
  EACCES: 'permission denied (is it executable?)',
  ENOEXEC: 'not an executable format',
  EISDIR: 'is a directory',
  ENOTDIR: 'a part of its path is not a directory',
  E2BIG: 'argument list too long',
};

/** Why spawn failed, in words, with the system's code for searching. */
export function describeSpawnError(command: string, err: NodeJS.ErrnoException): string {
  const code = err.code;
  if (code === 'ENOENT')
    return command.includes('/') ? 'no such file or directory (ENOENT)' : 'no such program on PATH (ENOENT)';
  if (code !== undefined && SPAWN_ERRORS[code] !== undefined) return `${SPAWN_ERRORS[code]} (${code})`;
  // an errno name (EMFILE, ...) says it; Node's own codes (ERR_...) are explained by the message
  return code !== undefined && /^E[A-Z0-9]+$/.test(code) ? code : err.message.split('\n')[0]!;
}

const FORWARDED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'];

/** Runs the command in the foreground; signals sent to us are passed on to it. */
export function runForeground(argv: string[]): Promise<Outcome> {
  const [cmd, ...args] = argv as [string, ...string[]];
  return new Promise((resolve) => {
    // Installed before spawning: the command may run, and we be signalled, before spawn()
    // returns; the default action would kill us and orphan it. Handlers run from the event
    // loop, so `child` is set by then.

    let child: ChildProcess | undefined;
    const forward = (sig: NodeJS.Signals) => child?.kill(sig);
    for (const s of FORWARDED) process.on(s, forward);
    const failed = (err: NodeJS.ErrnoException) => {
      for (const s of FORWARDED) process.off(s, forward);
      const why = describeSpawnError(cmd, err);
      resolve({ status: 'error', exitCode: 127, summary: `${cmd} could not be started: ${why}`, startError: why });
    };
    try {
      child = spawn(cmd, args, { stdio: 'inherit' });
    } catch (e) {
      // spawn throws synchronously for e.g. a NUL byte in an argument
      failed(e as NodeJS.ErrnoException);
      return;
    }
    child.once('error', failed);
    child.once('exit', (code, signal) => {
      for (const s of FORWARDED) process.off(s, forward);
      resolve(outcomeOf(cmd, code, signal));
    });
  });
}
