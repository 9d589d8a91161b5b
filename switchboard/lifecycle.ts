// The job lifecycle of the Treadmill book ("Internals / Job Lifecycle"), as pure data and checks.
// The three BOOK_* tables are the book's, cell for cell; the checks add who may act and the two
// documented extensions listed in EXTENSIONS (the book has no way to cancel a job that is still
// queued, and says a workload result may be set more than once).

import type { ExecutionState, ExitStatus } from '../protocol/job.js';
import type { JobErrorKind } from '../protocol/switchboard-ws.js';

export type Actor = 'switchboard' | 'supervisor';

/** The book groups the three workload statuses into one row/column ("WorkloadFinished*"). */
export type ExitStatusGroup = Exclude<ExitStatus, `workload_finished_${string}`> | 'workload_finished';

export function exitStatusGroup(status: ExitStatus): ExitStatusGroup {
  return status.startsWith('workload_finished_') ? 'workload_finished' : (status as ExitStatusGroup);
}

// 1 = ✔, 0 = ✘, null = '-' (the diagonal: not a transition).
type Cell = 0 | 1 | null;

/** Execution-state transitions, rows FROM, columns TO (book table 1). */
// prettier-ignore
export const BOOK_STATE_TRANSITIONS: Record<ExecutionState, Record<ExecutionState, Cell>> = {
  //            queued      scheduled     initializing     ready     terminating     terminated
  queued:       { queued: null, scheduled: 1,    initializing: 1,    ready: 1,    terminating: 1,    terminated: 1 },
  scheduled:    { queued: 0,    scheduled: null, initializing: 1,    ready: 1,    terminating: 1,    terminated: 1 },
  initializing: { queued: 0,    scheduled: 0,    initializing: null, ready: 1,    terminating: 1,    terminated: 1 },
  ready:        { queued: 0,    scheduled: 0,    initializing: 1,    ready: null, terminating: 1,    terminated: 1 },
  terminating:  { queued: 0,    scheduled: 0,    initializing: 0,    ready: 0,    terminating: null, terminated: 1 },
  terminated:   { queued: 0,    scheduled: 0,    initializing: 0,    ready: 0,    terminating: 0,    terminated: null },
};

/** Exit-status transitions, rows FROM, columns TO (book table 2). */
// prettier-ignore
export const BOOK_EXIT_STATUS_TRANSITIONS: Record<ExitStatusGroup, Record<ExitStatusGroup, Cell>> = {
  supervisor_match_error: { supervisor_match_error: null, queue_timeout: 0, internal_supervisor_error: 0, supervisor_host_start_failure: 0, job_canceled: 0, workload_finished: 0, supervisor_dropped_job: 0, job_timeout: 0 },
  queue_timeout: { supervisor_match_error: 0, queue_timeout: null, internal_supervisor_error: 0, supervisor_host_start_failure: 0, job_canceled: 0, workload_finished: 0, supervisor_dropped_job: 0, job_timeout: 0 },
  internal_supervisor_error: { supervisor_match_error: 0, queue_timeout: 0, internal_supervisor_error: null, supervisor_host_start_failure: 0, job_canceled: 0, workload_finished: 0, supervisor_dropped_job: 0, job_timeout: 0 },
  supervisor_host_start_failure: { supervisor_match_error: 0, queue_timeout: 0, internal_supervisor_error: 0, supervisor_host_start_failure: null, job_canceled: 0, workload_finished: 0, supervisor_dropped_job: 0, job_timeout: 0 },
  job_canceled: { supervisor_match_error: 0, queue_timeout: 0, internal_supervisor_error: 0, supervisor_host_start_failure: 0, job_canceled: null, workload_finished: 0, supervisor_dropped_job: 0, job_timeout: 0 },
  workload_finished: { supervisor_match_error: 0, queue_timeout: 0, internal_supervisor_error: 1, supervisor_host_start_failure: 1, job_canceled: 1, workload_finished: null, supervisor_dropped_job: 1, job_timeout: 1 },
  supervisor_dropped_job: { supervisor_match_error: 0, queue_timeout: 0, internal_supervisor_error: 0, supervisor_host_start_failure: 0, job_canceled: 0, workload_finished: 0, supervisor_dropped_job: null, job_timeout: 0 },
  job_timeout: { supervisor_match_error: 0, queue_timeout: 0, internal_supervisor_error: 0, supervisor_host_start_failure: 0, job_canceled: 0, workload_finished: 0, supervisor_dropped_job: 0, job_timeout: null },
};

/**
 * Exit status that may be set while in an execution state (book table 3, rows TO exit status,
 * columns IN execution state).
 */
// prettier-ignore
export const BOOK_EXIT_STATUS_IN_STATE: Record<ExitStatusGroup, Record<ExecutionState, 0 | 1>> = {
  supervisor_match_error:      { queued: 1, scheduled: 0, initializing: 0, ready: 0, terminating: 0, terminated: 0 },
  queue_timeout:               { queued: 1, scheduled: 0, initializing: 0, ready: 0, terminating: 0, terminated: 0 },
  internal_supervisor_error:   { queued: 0, scheduled: 1, initializing: 1, ready: 1, terminating: 1, terminated: 0 },
  supervisor_host_start_failure: { queued: 0, scheduled: 1, initializing: 1, ready: 1, terminating: 1, terminated: 0 },
  job_canceled:                { queued: 0, scheduled: 1, initializing: 1, ready: 1, terminating: 1, terminated: 0 },
  workload_finished:           { queued: 0, scheduled: 1, initializing: 1, ready: 1, terminating: 1, terminated: 0 },
  supervisor_dropped_job:      { queued: 0, scheduled: 1, initializing: 1, ready: 1, terminating: 1, terminated: 0 },
  job_timeout:                 { queued: 0, scheduled: 1, initializing: 1, ready: 1, terminating: 1, terminated: 0 },
};

/**
 * Where this switchboard goes beyond the book, and why:
 * - A user may cancel a job that is still Queued (table 3 forbids JobCanceled there, which would
 *   leave a queued job uncancelable). The switchboard then ends it at once: Queued -> Terminated
 *   with JobCanceled.
 * - Re-declaring a workload result (WorkloadFinished* -> WorkloadFinished*, the '-' cell) replaces
 *   it: the book says an exit status "may be set multiple times" until Terminated.
 */
export const EXTENSIONS = {
  cancelWhileQueued: true,
  workloadRedeclaration: true,
} as const;

/** Who may set each exit status. The switchboard's come from scheduling, users and supervisor loss. */
export const EXIT_STATUS_SETTERS: Record<ExitStatus, readonly Actor[]> = {
  supervisor_match_error: ['switchboard'],
  queue_timeout: ['switchboard'],
  internal_supervisor_error: ['switchboard', 'supervisor'],
  supervisor_host_start_failure: ['supervisor'],
  job_canceled: ['switchboard'],
  workload_finished_success: ['supervisor'],
  workload_finished_error: ['supervisor'],
  workload_finished_unknown: ['supervisor'],
  supervisor_dropped_job: ['switchboard'],
  job_timeout: ['switchboard'],
};

/** Who may move a job into each execution state (spec "Who may move a job"). */
export const STATE_SETTERS: Record<ExecutionState, readonly Actor[]> = {
  queued: ['switchboard'],
  scheduled: ['switchboard'],
  initializing: ['supervisor'],
  ready: ['supervisor'],
  terminating: ['supervisor'],
  // The switchboard ends queued jobs (match error, queue timeout, cancel) and dropped jobs.
  terminated: ['switchboard', 'supervisor'],
};

/** null when `actor` may move a job from `from` to `to`, else why not. */
export function checkStateTransition(actor: Actor, from: ExecutionState, to: ExecutionState): string | null {
  if (from === to) return `job is already ${to}`;
  if (BOOK_STATE_TRANSITIONS[from][to] !== 1) return `${from} -> ${to} is not a legal transition`;
  if (!STATE_SETTERS[to].includes(actor)) return `only the ${STATE_SETTERS[to].join(' or ')} may move a job to ${to}`;
  return null;
}

export function exitStatusAllowedInState(status: ExitStatus, state: ExecutionState): boolean {
  return BOOK_EXIT_STATUS_IN_STATE[exitStatusGroup(status)][state] === 1;
}

/** null when `actor` may set exit status `to` on a job in `state` whose exit status is `from`, else why not. */
export function checkExitStatus(
  actor: Actor,
  state: ExecutionState,
  from: ExitStatus | null,
  to: ExitStatus,
): string | null {
  if (!EXIT_STATUS_SETTERS[to].includes(actor)) return `only the ${EXIT_STATUS_SETTERS[to].join(' or ')} may set ${to}`;
  if (state === 'terminated') return `exit status of a terminated job is final`;
  const queuedCancel =
    to === 'job_canceled' && state === 'queued' && actor === 'switchboard' && EXTENSIONS.cancelWhileQueued;
  if (!queuedCancel && !exitStatusAllowedInState(to, state)) return `${to} may not be set while ${state}`;
  if (from === null) return null;
  const fg = exitStatusGroup(from);
  const tg = exitStatusGroup(to);
  if (fg === tg) {
    if (fg === 'workload_finished' && EXTENSIONS.workloadRedeclaration) return null;
    return `exit status is already ${from}`;
  }
  if (BOOK_EXIT_STATUS_TRANSITIONS[fg][tg] !== 1) return `exit status ${from} may not change to ${to}`;
  return null;
}

// -- what the lifecycle makes of what supervisors report --

/** The exit status a workload's declared result sets (the puppet's `job finish --status`). */
export const USER_EXIT_STATUS: Record<'success' | 'error' | 'unknown', ExitStatus> = {
  success: 'workload_finished_success',
  error: 'workload_finished_error',
  unknown: 'workload_finished_unknown',
};

/** The exit status a supervisor's error sets: a bad or unusable image failed the host's start. */
export function exitStatusForError(kind: JobErrorKind): 'supervisor_host_start_failure' | 'internal_supervisor_error' {
  return kind === 'ImageNotFound' || kind === 'ImageInvalid' || kind === 'ImageNotCompatible'
    ? 'supervisor_host_start_failure'
    : 'internal_supervisor_error';
}

/** A request refused because the job already is as asked: the job itself is fine. */
export function errorIsNoFailure(kind: JobErrorKind): boolean {
  return kind === 'AlreadyRunning' || kind === 'AlreadyStopping';
}

/** Output of a job its supervisor ended without declaring how the workload went (upstream's never do). */
export const NO_STATUS_DECLARED = 'the supervisor ended the job without declaring an exit status';

/**
 * The exit status to set with a supervisor's move of a job to `to`, if any: a job must not end
 * without one. Upstream records JobCanceled here, which blames a user who canceled nothing; the
 * workload's result is what is unknown.
 */
export function exitStatusOnSupervisorMove(
  to: ExecutionState,
  current: ExitStatus | null,
): { to: ExitStatus; message: string } | undefined {
  return to === 'terminated' && current === null
    ? { to: 'workload_finished_unknown', message: NO_STATUS_DECLARED }
    : undefined;
}
