// What the switchboard replicas of one database tell each other (PostgreSQL's NOTIFY carries it):
// a job changed or has new console output, which supervisors a replica holds, console input for a
// supervisor another replica holds. A notice only says where to look; what happened is read from
// the database, so a replica that misses one and reads again later sees the same.

import { isOneOf, ValidationError } from '../protocol/validation.js';

export type FeedNotice =
  /** A job's row changed (a commit of its replica). */
  | { kind: 'job'; id: string }
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

export function encodeNotice(from: string, notice: FeedNotice): string {
  return JSON.stringify({ ...notice, from });
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
    case 'job':
      if (isString(o.id)) return { kind, id: o.id, from };
      break;
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
