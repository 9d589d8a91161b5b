// Queries of the paged REST answers (our extensions; an upstream switchboard ignores them): the
// job list's filters and cursor, and the events' `after`. Their bounds are defined here once; the
// switchboard parses what arrives with parseJobListQuery/parseEventsQuery, and tml builds what it
// sends with the query-string functions and checks its flags against the same bounds.

import { EXECUTION_STATES, EXIT_STATUSES, type ExecutionState, type ExitStatus } from './job.js';
import { ValidationError, isOneOf, oneOf } from './validation.js';

/** Bounds of `GET /jobs?limit=`. */
export const JOB_LIST_LIMIT = { min: 1, max: 10_000, default: 200 } as const;

/** Bounds of `GET /jobs/:id/events?limit=`. */
export const EVENTS_PAGE_LIMIT = { min: 1, max: 1000, default: 1000 } as const;

/** Longest filter text (a tag, a supervisor name or id) a query may carry. */
export const MAX_FILTER_LENGTH = 255;

/** Query of `GET /jobs`: every key optional. */
export interface JobListQuery {
  limit?: number;
  /** `next_cursor` of the page before. */
  cursor?: string;
  state?: ExecutionState;
  exit_status?: ExitStatus;
  /** One tag the job's tag_config must hold. */
  tag?: string;
  /** A supervisor's id or name. */
  supervisor?: string;
  /** RFC 3339: jobs queued at or after this time. */
  since?: string;
}

/** Query of `GET /jobs/:id/events`. */
export interface EventsQuery {
  /** Events with a sequence number after this one (the page before's `next`). */
  after?: number;
  limit?: number;
}

/** Query of `GET /jobs/:id/log`. */
export interface LogQuery {
  /** Absolute byte offset to start at (default 0). */
  offset?: number;
  /** Stream as output arrives until the job has terminated. */
  follow?: boolean;
}

const JOB_QUERY_KEYS = ['limit', 'cursor', 'state', 'exit_status', 'tag', 'supervisor', 'since'] as const;
const EVENTS_QUERY_KEYS = ['after', 'limit'] as const;

function queryString<K extends string>(keys: readonly K[], q: Partial<Record<K, string | number>>): string {
  const params = new URLSearchParams();
  for (const key of keys) {
    const v = q[key];
    if (v !== undefined) params.set(key, String(v));
  }
  return params.size ? `?${params}` : '';
}

/** `?limit=200&state=ready`, keys in a fixed order; empty when nothing is set. */
export const jobListQueryString = (q: JobListQuery): string => queryString(JOB_QUERY_KEYS, q);

export const eventsQueryString = (q: EventsQuery): string => queryString(EVENTS_QUERY_KEYS, q);

export const logQueryString = (q: LogQuery): string =>
  queryString(['offset', 'follow'], { offset: q.offset, follow: q.follow ? 1 : undefined });

/** A cursor is the position of the last job of a page: digits only, opaque to clients. */
const CURSOR = /^\d{1,16}$/;
const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)$/i;

function single(query: Record<string, unknown>, key: string): string | undefined {
  const v = query[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new ValidationError(`${key} may be given once`);
  return v;
}

function integer(text: string | undefined, key: string, min: number, max: number): number | undefined {
  if (text === undefined) return undefined;
  const n = /^\d{1,16}$/.test(text) ? Number(text) : NaN;
  if (!(n >= min && n <= max)) throw new ValidationError(`${key} must be an integer from ${min} to ${max}`);
  return n;
}

function filterText(text: string | undefined, key: string): string | undefined {
  if (text === undefined) return undefined;
  if (text === '' || text.length > MAX_FILTER_LENGTH) {
    throw new ValidationError(`${key} must be 1 to ${MAX_FILTER_LENGTH} characters`);
  }
  return text;
}

/** The server's reading of `GET /jobs`'s query (a parsed query-string object); unknown keys are refused. */
export function parseJobListQuery(query: Record<string, unknown>): JobListQuery {
  for (const key of Object.keys(query)) {
    if (!isOneOf(key, JOB_QUERY_KEYS)) {
      throw new ValidationError(`unknown query parameter "${key.slice(0, 32)}" (known: ${JOB_QUERY_KEYS.join(', ')})`);
    }
  }
  const q: JobListQuery = {};
  const limit = integer(single(query, 'limit'), 'limit', JOB_LIST_LIMIT.min, JOB_LIST_LIMIT.max);
  if (limit !== undefined) q.limit = limit;
  const cursor = single(query, 'cursor');
  if (cursor !== undefined) {
    if (!CURSOR.test(cursor)) throw new ValidationError('cursor must be the next_cursor of an earlier page');
    q.cursor = cursor;
  }
  const state = single(query, 'state');
  if (state !== undefined) q.state = oneOf(state, EXECUTION_STATES, 'state');
  const exit = single(query, 'exit_status');
  if (exit !== undefined) q.exit_status = oneOf(exit, EXIT_STATUSES, 'exit_status');
  const tag = filterText(single(query, 'tag'), 'tag');
  if (tag !== undefined) q.tag = tag;
  const supervisor = filterText(single(query, 'supervisor'), 'supervisor');
  if (supervisor !== undefined) q.supervisor = supervisor;
  const since = single(query, 'since');
  if (since !== undefined) {
    if (!RFC3339.test(since) || Number.isNaN(Date.parse(since)))
      throw new ValidationError('since must be an RFC 3339 time');
    q.since = since;
  }
  return q;
}

/** The server's reading of `GET /jobs/:id/events`'s query. */
export function parseEventsQuery(query: Record<string, unknown>): EventsQuery {
  for (const key of Object.keys(query)) {
    if (!isOneOf(key, EVENTS_QUERY_KEYS)) {
      throw new ValidationError(`unknown query parameter "${key.slice(0, 32)}" (known: after, limit)`);
    }
  }
  const q: EventsQuery = {};
  const after = integer(single(query, 'after'), 'after', 0, Number.MAX_SAFE_INTEGER);
  if (after !== undefined) q.after = after;
  const limit = integer(single(query, 'limit'), 'limit', EVENTS_PAGE_LIMIT.min, EVENTS_PAGE_LIMIT.max);
  if (limit !== undefined) q.limit = limit;
  return q;
}

/** The server's reading of `GET /jobs/:id/log`'s query (`follow` is `1` or `true`; other keys are ignored). */
export function parseLogQuery(query: Record<string, unknown>): LogQuery {
  const q: LogQuery = {};
  const offset = single(query, 'offset');
  if (offset !== undefined) {
    const n = /^\d{1,16}$/.test(offset) ? Number(offset) : NaN;
    if (!Number.isSafeInteger(n)) throw new ValidationError('offset must be a non-negative integer');
    q.offset = n;
  }
  const follow = single(query, 'follow');
  if (follow !== undefined) q.follow = follow === '1' || follow === 'true';
  return q;
}
