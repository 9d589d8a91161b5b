// `tml job list` filters: sent to the switchboard as query parameters, and applied again to what
// comes back, so a switchboard that ignores them (upstream's) still gives a filtered listing as far
// as its answers show the field; where they do not, the filter is reported as not applied.

import { UsageError } from '../protocol/cli.js';
import { parseDuration } from '../protocol/duration.js';
import { EXECUTION_STATES, EXIT_STATUSES } from '../protocol/job.js';
import type { JobStatus } from '../protocol/switchboard-api.js';
import { isOneOf, isUuid } from '../protocol/validation.js';
import { JOB_LIST_LIMIT, type JobListQuery } from '../protocol/job-query.js';
import { outcomeOf } from './format.js';
import { bookName } from './outcome.js';

export interface ListFlags {
  limit?: number | string;
  cursor?: string;
  state?: string;
  exitStatus?: string;
  tag?: string;
  supervisor?: string;
  since?: string;
}

const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)$/i;

/** An exit status by its wire name (`job_canceled`) or the book's (`JobCanceled`). */
export function exitStatusArg(text: string): JobListQuery['exit_status'] {
  const found = EXIT_STATUSES.find((s) => s === text || bookName(s) === text);
  if (!found) {
    throw new UsageError(
      `--exit-status must be one of ${EXIT_STATUSES.map(bookName).join(', ')} (or their snake_case names), got "${text}"`,
    );
  }
  return found;
}

/** RFC 3339, or a duration meaning that long ago (`2h`). */
export function sinceArg(text: string, now: number): string {
  if (RFC3339.test(text) && !Number.isNaN(Date.parse(text))) return new Date(Date.parse(text)).toISOString();
  let ms: number;
  try {
    ms = parseDuration(text);
  } catch {
    throw new UsageError(
      `--since must be an RFC 3339 time (2025-10-31T12:00:00Z) or a duration ago (2h), got "${text}"`,
    );
  }
  return new Date(now - ms).toISOString();
}

export function listQuery(f: ListFlags, now: number): JobListQuery {
  const q: JobListQuery = {};
  const limit = f.limit === undefined ? JOB_LIST_LIMIT.default : Number(f.limit);
  if (!Number.isInteger(limit) || limit < JOB_LIST_LIMIT.min || limit > JOB_LIST_LIMIT.max) {
    throw new UsageError(
      `--limit must be a whole number from ${JOB_LIST_LIMIT.min} to ${JOB_LIST_LIMIT.max}, got "${String(f.limit)}"`,
    );
  }
  q.limit = limit;
  if (f.cursor !== undefined) q.cursor = f.cursor;
  if (f.state !== undefined) {
    if (!isOneOf(f.state, EXECUTION_STATES)) {
      throw new UsageError(`--state must be one of ${EXECUTION_STATES.join(', ')}, got "${f.state}"`);
    }
    q.state = f.state;
  }
  if (f.exitStatus !== undefined) q.exit_status = exitStatusArg(f.exitStatus);
  if (f.tag !== undefined) q.tag = f.tag;
  if (f.supervisor !== undefined) q.supervisor = f.supervisor;
  if (f.since !== undefined) q.since = sinceArg(f.since, now);
  return q;
}

/** Whether a job passes the filters; `unknown` names the filters its status cannot decide. */
export function matches(q: JobListQuery, s: JobStatus): { pass: boolean; unknown: string[] } {
  const unknown: string[] = [];
  let pass = true;
  if (q.state !== undefined && s.state.type !== q.state) pass = false;
  if (q.exit_status !== undefined && outcomeOf(s)?.status !== q.exit_status) pass = false;
  if (q.tag !== undefined) {
    if (s.tag_config === undefined) unknown.push('--tag');
    else if (!s.tag_config.split(';').some((t) => t.trim() === q.tag)) pass = false;
  }
  if (q.supervisor !== undefined) {
    const id = s.state.dispatched_to_supervisor;
    if (id !== q.supervisor && s.supervisor_name !== q.supervisor) {
      // A name cannot be checked against an answer that has no names (upstream's).
      if (id !== null && s.supervisor_name === undefined && !isUuid(q.supervisor)) unknown.push('--supervisor');
      else pass = false;
    }
  }
  if (q.since !== undefined) {
    if (s.queued_at === undefined) unknown.push('--since');
    else if (Date.parse(s.queued_at) < Date.parse(q.since)) pass = false;
  }
  return { pass, unknown };
}

/** The jobs that pass, in the order given, and the filters that could not be applied to some. */
export function filterJobs(
  q: JobListQuery,
  jobs: Record<string, JobStatus>,
): { jobs: Record<string, JobStatus>; notApplied: string[] } {
  const out: Record<string, JobStatus> = {};
  const notApplied = new Set<string>();
  for (const [id, s] of Object.entries(jobs)) {
    const m = matches(q, s);
    m.unknown.forEach((u) => notApplied.add(u));
    if (m.pass) out[id] = s;
  }
  return { jobs: out, notApplied: [...notApplied] };
}
