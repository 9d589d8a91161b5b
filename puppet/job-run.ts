// `tml-puppet job run`: run the workload with inherited stdio and report how it ended.

import { spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:os';
import type { WorkloadExitStatus } from '../protocol/control-socket/messages.js';

export interface Outcome {
  status: WorkloadExitStatus;
  /** what this CLI exits with: the command's code, 128+N for signal N, 127 if it could not start */
  exitCode: number;
  summary: string;
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

const FORWARDED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'];

/** Runs the command in the foreground; signals sent to us are passed on to it. */
export function runForeground(argv: string[]): Promise<Outcome> {
  const [cmd, ...args] = argv as [string, ...string[]];
  return new Promise((resolve) => {
    // Installed before spawning: the command may run, and we be signalled, before spawn()
    // returns; the default action would kill us and orphan it. Handlers run from the event
    // loop, so `child` is set by then.
    // eslint-disable-next-line prefer-const -- assigned after the handlers that read it
    let child: ChildProcess | undefined;
    const forward = (sig: NodeJS.Signals) => child?.kill(sig);
    for (const s of FORWARDED) process.on(s, forward);
    child = spawn(cmd, args, { stdio: 'inherit' });
    child.once('error', (err) => {
      for (const s of FORWARDED) process.off(s, forward);
      resolve({ status: 'error', exitCode: 127, summary: `${cmd} could not be started: ${err.message}` });
    });
    child.once('exit', (code, signal) => {
      for (const s of FORWARDED) process.off(s, forward);
      resolve(outcomeOf(cmd, code, signal));
    });
  });
}
