// Wire shapes of the REST extensions this client uses that protocol/ does not define yet: job list
// filters and cursors, event sequence numbers, who holds a supervisor, the named-system tag. They
// belong in protocol/switchboard-api.ts (the server implements the same shapes); each parser takes
// an answer without them (upstream's, or an older switchboard's) and says so by `undefined`.

import {
  parseJobEventsAnswer,
  parseJobListAnswer,
  parseSupervisorStatus,
  type ApiSupervisorStatusExt,
  type JobEventRecord,
  type JobStatus,
} from '../protocol/switchboard-api.js';
import { EXECUTION_STATES, type ExecutionState, type ExitStatus } from '../protocol/job.js';
import { ValidationError, expectObject, isObject } from '../protocol/validation.js';
import { typeName } from './json-text.js';

/** Bounds of `GET /jobs?limit=` (the server's). */
export const JOB_LIST_LIMIT = { min: 1, max: 10_000, default: 200 } as const;

/** A job tag that only the supervisor of that name or id matches: a "named system" (mq's `-s`). */
export const SUPERVISOR_TAG_PREFIX = 'tml.supervisor:';

/** Query of `GET /jobs`: every key optional; an upstream switchboard ignores all of them. */
export interface JobListQuery {
  limit?: number;
  cursor?: string;
  state?: ExecutionState;
  exit_status?: ExitStatus;
  tag?: string;
  /** A supervisor's id or name. */
  supervisor?: string;
  /** RFC 3339: jobs queued at or after this time. */
  since?: string;
}

const QUERY_KEYS = ['limit', 'cursor', 'state', 'exit_status', 'tag', 'supervisor', 'since'] as const;

/** `?limit=200&state=ready`, keys in a fixed order; empty when nothing is set. */
export function jobListQueryString(q: JobListQuery): string {
  const params = new URLSearchParams();
  for (const key of QUERY_KEYS) {
    const v = q[key];
    if (v !== undefined) params.set(key, String(v));
  }
  return params.size ? `?${params}` : '';
}

export interface JobListPage {
  jobs: Record<string, JobStatus>;
  /** Where the next page starts, null on the last page; undefined from a switchboard without pages. */
  next_cursor: string | null | undefined;
}

export function parseJobListPage(value: unknown): JobListPage {
  const { jobs } = parseJobListAnswer(value);
  const raw = (value as Record<string, unknown>).next_cursor;
  if (raw !== undefined && raw !== null && typeof raw !== 'string') {
    throw new ValidationError(`next_cursor must be a string or null, got ${typeName(raw)}`);
  }
  return { jobs, next_cursor: raw as string | null | undefined };
}

/** An event with its sequence number (null from a switchboard that does not number them). */
export interface SeqEvent extends JobEventRecord {
  seq: number | null;
}

export interface EventsPage {
  events: SeqEvent[];
  /** `after` for the next page, null when this page was the last; undefined without pages. */
  next: number | null | undefined;
}

function seqOf(value: unknown, where: string): number | null {
  if (value === undefined) return null;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new ValidationError(`${where} must be a non-negative integer, got ${typeName(value)}`);
  }
  return value;
}

export function parseEventsPage(value: unknown): EventsPage {
  const { events } = parseJobEventsAnswer(value);
  const obj = expectObject(value, 'events answer');
  const raw = obj.events as unknown[];
  const next = obj.next === null ? null : obj.next === undefined ? undefined : seqOf(obj.next, 'next');
  return {
    events: events.map((e, i) => ({ ...e, seq: isObject(raw[i]) ? seqOf(raw[i].seq, `events[${i}].seq`) : null })),
    next,
  };
}

/** Who holds a supervisor, from the extra keys of its status (undefined: not reported). */
export interface SupervisorHolder {
  job_owner?: string | null;
  job_since?: string | null;
}

export type SupervisorStatusFull = ApiSupervisorStatusExt & SupervisorHolder;

const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)$/i;

export function parseSupervisorStatusFull(value: unknown, where = 'status'): SupervisorStatusFull {
  const status: SupervisorStatusFull = parseSupervisorStatus(value, where);
  const obj = value as Record<string, unknown>;
  if (obj.job_owner !== undefined) {
    if (obj.job_owner !== null && typeof obj.job_owner !== 'string') {
      throw new ValidationError(`${where}.job_owner must be a string or null, got ${typeName(obj.job_owner)}`);
    }
    status.job_owner = obj.job_owner;
  }
  if (obj.job_since !== undefined) {
    if (obj.job_since !== null && (typeof obj.job_since !== 'string' || !RFC3339.test(obj.job_since))) {
      throw new ValidationError(`${where}.job_since must be an RFC 3339 time or null`);
    }
    status.job_since = obj.job_since;
  }
  return status;
}

export function parseSupervisorListFull(value: unknown): Record<string, SupervisorStatusFull> {
  const obj = expectObject(value, 'supervisor list answer');
  if (obj.type !== 'ok') throw new ValidationError(`supervisor list answer has type ${JSON.stringify(obj.type)}`);
  const map = expectObject(obj.supervisors, 'supervisors');
  const out: Record<string, SupervisorStatusFull> = {};
  for (const [id, s] of Object.entries(map)) {
    if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(id)) {
      throw new ValidationError('supervisors key must be a UUID');
    }
    out[id] = parseSupervisorStatusFull(s, `supervisors.${id}`);
  }
  return out;
}

export function parseSupervisorStatusFullAnswer(value: unknown): SupervisorStatusFull {
  const obj = expectObject(value, 'supervisor status answer');
  if (obj.type !== 'ok') throw new ValidationError(`supervisor status answer has type ${JSON.stringify(obj.type)}`);
  return parseSupervisorStatusFull(obj.status);
}

export function isExecutionState(v: string): v is ExecutionState {
  return (EXECUTION_STATES as readonly string[]).includes(v);
}
