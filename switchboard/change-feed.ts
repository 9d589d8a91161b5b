// What the switchboard replicas of one database tell each other (PostgreSQL's NOTIFY carries it):
// a job changed (and, where it fits in a notice, its row as committed, so that the others need not
// read it back) or has new console output, which supervisors a replica holds, console input for a
// supervisor another replica holds. What a notice says is what the database holds, so a replica
// that misses one and reads again later sees the same.

import { EXECUTION_STATES, EXIT_STATUSES, INIT_STAGES } from '../protocol/job.js';
import { isOneOf, ValidationError } from '../protocol/validation.js';
import type { JobRow } from './schema.js';

export type FeedNotice =
  /** A job's row changed (a commit of its replica): the row as committed, unless it was too large to send. */
  | { kind: 'job'; id: string; row?: JobRow }
  /** A job's console now holds bytes `start` to `end`. */
  | { kind: 'log'; id: string; start: number; end: number }
  /**
   * The supervisors whose connections the sending replica holds now (sent on each change and as a
   * heartbeat), in parts of at most SESSIONS_PER_NOTICE: part 0 replaces what it held, later parts add.
   */
  | { kind: 'sessions'; supervisors: string[]; part: number }
  /** A supervisor connected to the sending replica: any other connection of it is superseded. */
  | { kind: 'connected'; supervisor: string }
  /** Bytes typed for the console of a job whose supervisor another replica may hold. */
  | { kind: 'console_input'; job: string; bytes: string };

/** A notice with the replica that sent it. */
export type FeedMessage = FeedNotice & { from: string };

const KINDS = ['job', 'log', 'sessions', 'connected', 'console_input'] as const;

/** PostgreSQL's limit on a NOTIFY payload is 8000 bytes; a notice stays well within it. */
export const MAX_NOTICE_BYTES = 7900;

/** Most supervisors one `sessions` notice names; a replica holding more sends several. */
export const SESSIONS_PER_NOTICE = 100;

const isString = (v: unknown): v is string => typeof v === 'string' && v.length <= MAX_NOTICE_BYTES;

/**
 * How every notice replica `from` sends begins. Each replica hears its own notices too (NOTIFY
 * reaches every listener), about half of all it hears with two replicas: it passes over those
 * without parsing them.
 */
export function noticePrefix(from: string): string {
  return `{"from":${JSON.stringify(from)},`;
}

export function encodeNotice(from: string, notice: FeedNotice): string {
  const payload = JSON.stringify({ from, ...notice });
  if (Buffer.byteLength(payload) <= MAX_NOTICE_BYTES || notice.kind !== 'job' || !notice.row) return payload;
  // A long exit message: the others read the row.
  return JSON.stringify({ from, kind: notice.kind, id: notice.id });
}

type Check = (v: unknown) => boolean;
const str: Check = (v) => typeof v === 'string';
const int: Check = (v) => Number.isSafeInteger(v);
const orNull =
  (c: Check): Check =>
  (v) =>
    v === null || c(v);
const oneOf =
  (values: readonly string[]): Check =>
  (v) =>
    isOneOf(v, values);

/** Every column of a job row as a notice carries it. */
const ROW_COLUMNS: { [K in keyof JobRow]-?: Check } = {
  seq: int,
  id: str,
  owner_id: str,
  tag_config: str,
  state: oneOf(EXECUTION_STATES),
  stage: orNull(oneOf(INIT_STAGES)),
  status_message: orNull(str),
  exit_status: orNull(oneOf(EXIT_STATUSES)),
  exit_message: orNull(str),
  supervisor_id: orNull(str),
  queued_at: int,
  scheduled_at: orNull(int),
  updated_at: int,
  terminated_at: orNull(int),
  log_start: int,
  log_end: int,
  init_spec: str,
  restart_of: orNull(str),
  override_timeout: orNull(int),
};

function parseRow(v: unknown, id: string): JobRow | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  const o = v as Record<string, unknown>;
  const row: Record<string, unknown> = {};
  for (const [column, check] of Object.entries(ROW_COLUMNS)) {
    if (!check(o[column])) return undefined;
    row[column] = o[column];
  }
  return row.id === id ? (row as unknown as JobRow) : undefined;
}

/** Parses a payload another replica sent; anything malformed is a ValidationError. */
export function parseNotice(payload: string): FeedMessage {
  let v: unknown;
  try {
    v = JSON.parse(payload);
  } catch {
    throw new ValidationError('change feed: a notice that is not JSON');
  }
  const o = v as Record<string, unknown> | null;
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new ValidationError('change feed: not an object');
  const { kind, from } = o;
  if (!isString(from) || !isOneOf(kind, KINDS)) throw new ValidationError('change feed: no sender or kind');
  switch (kind) {
    case 'job': {
      if (!isString(o.id)) break;
      if (o.row === undefined) return { kind, id: o.id, from };
      const row = parseRow(o.row, o.id);
      if (row) return { kind, id: o.id, row, from };
      break;
    }
    case 'log':
      if (isString(o.id) && Number.isSafeInteger(o.start) && Number.isSafeInteger(o.end))
        return { kind, id: o.id, start: o.start as number, end: o.end as number, from };
      break;
    case 'sessions':
      if (Array.isArray(o.supervisors) && o.supervisors.every(isString) && Number.isSafeInteger(o.part))
        return { kind, supervisors: o.supervisors as string[], part: o.part as number, from };
      break;
    case 'connected':
      if (isString(o.supervisor)) return { kind, supervisor: o.supervisor, from };
      break;
    case 'console_input':
      if (isString(o.job) && isString(o.bytes)) return { kind, job: o.job, bytes: o.bytes, from };
      break;
  }
  throw new ValidationError(`change feed: a malformed ${kind} notice`);
}

/** How the replicas of one database reach each other; SQLite's single switchboard has none. */
export interface ChangeFeed {
  /** This replica's id, the `from` of what it sends. */
  readonly replica: string;
  /** Sends a notice at once (outside any transaction). */
  publish(notice: FeedNotice): Promise<void>;
  /** `onNotice` gets what other replicas send; `onResync` after the feed was lost and is back (notices may be missed). */
  subscribe(onNotice: (m: FeedMessage) => void, onResync: () => void): void;
  close(): Promise<void>;
}
