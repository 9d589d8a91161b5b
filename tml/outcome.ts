// How `tml` reports a job's outcome: one distinct process exit code per exit status (from `job
// wait` and `job run`), plus the codes of their own ends. Every other command follows the CLI
// convention (protocol/cli.ts): 0 done, 1 failed, 2 usage error.

import type { ExitStatus } from '../protocol/job.js';

export const EXIT_CODES = {
  workload_finished_success: 0,
  workload_finished_error: 1,
  usage: 2,
  workload_finished_unknown: 3,
  job_canceled: 4,
  job_timeout: 5,
  queue_timeout: 6,
  supervisor_match_error: 7,
  supervisor_host_start_failure: 8,
  internal_supervisor_error: 9,
  supervisor_dropped_job: 10,
  /** `tml job wait --timeout` (or `supervisor wait --timeout`) elapsed first. */
  wait_timeout: 11,
  /** `wait`/`run`: the switchboard could not be reached, or refused a request (1 means WorkloadFinishedError there). */
  request_failed: 12,
  /** `tml job run --completion-timeout` elapsed without the completion text; the job was canceled. */
  completion_timeout: 13,
  /** `tml job run` was interrupted (Ctrl-C); the job was canceled. */
  interrupted: 130,
} as const satisfies Record<
  ExitStatus | 'usage' | 'wait_timeout' | 'request_failed' | 'completion_timeout' | 'interrupted',
  number
>;

export function exitCodeFor(status: ExitStatus): number {
  return EXIT_CODES[status];
}

/** The book's name of an exit status (`workload_finished_success` -> `WorkloadFinishedSuccess`). */
export function bookName(status: string): string {
  // The one wire name that is not the book's name in snake case.
  if (status === 'supervisor_host_start_failure') return 'SupervisorHostStartError';
  return status.replace(/(^|_)([a-z])/g, (_, __, c: string) => c.toUpperCase());
}

/** How `tml job run` ended, before the exit code is chosen. */
export type RunEnd =
  | { kind: 'ended'; status: ExitStatus }
  | { kind: 'matched'; which: 'completion' | 'error' }
  | { kind: 'completion_timeout' }
  | { kind: 'interrupted' };

export function runExitCode(end: RunEnd): number {
  switch (end.kind) {
    case 'ended':
      return exitCodeFor(end.status);
    case 'matched':
      return end.which === 'completion' ? EXIT_CODES.workload_finished_success : EXIT_CODES.workload_finished_error;
    case 'completion_timeout':
      return EXIT_CODES.completion_timeout;
    case 'interrupted':
      return EXIT_CODES.interrupted;
  }
}

/** The exit codes of `wait` and `run`, in the words of --help and docs/tml.md. */
export const OUTCOME_EXIT_DOCS: Array<[number, string]> = [
  [0, 'WorkloadFinishedSuccess (run: or the completion text was seen)'],
  [1, 'WorkloadFinishedError (run: or the error text was seen)'],
  [2, 'usage error'],
  [3, 'WorkloadFinishedUnknown'],
  [4, 'JobCanceled'],
  [5, 'JobTimeout'],
  [6, 'QueueTimeout'],
  [7, 'SupervisorMatchError: no supervisor could ever run the job'],
  [8, 'SupervisorHostStartError'],
  [9, 'InternalSupervisorError'],
  [10, 'SupervisorDroppedJob'],
  [12, 'the switchboard was unreachable for too long, or refused a request'],
];
