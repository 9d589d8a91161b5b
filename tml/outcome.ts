// How `tml` reports a job's outcome: one distinct process exit code per exit status.

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
  /** `tml job wait --timeout` elapsed while the job was still running. */
  wait_timeout: 11,
  /** The switchboard could not be reached, or refused the request (401, 403, 404, 409, 5xx...). */
  request_failed: 12,
  /** `tml job run` was interrupted (Ctrl-C); the job was canceled. */
  interrupted: 130,
} as const satisfies Record<ExitStatus | 'usage' | 'wait_timeout' | 'request_failed' | 'interrupted', number>;

export function exitCodeFor(status: ExitStatus): number {
  return EXIT_CODES[status];
}

/** The book's name of an exit status (`workload_finished_success` -> `WorkloadFinishedSuccess`). */
export function bookName(status: string): string {
  // The one wire name that is not the book's name in snake case.
  if (status === 'supervisor_host_start_failure') return 'SupervisorHostStartError';
  return status.replace(/(^|_)([a-z])/g, (_, __, c: string) => c.toUpperCase());
}
