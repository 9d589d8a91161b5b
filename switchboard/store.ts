// What the scheduler, the job store, the routes, the supervisor hub and the admin CLI need from a
// database, and nothing of how it is kept. sqlite-store.ts implements it; every implementation
// passes the same conformance suite (test/switchboard/store-conformance.ts).
//
// Every call is asynchronous, as PostgreSQL's driver is; what must not interleave (a job's change
// and its events) runs in one transaction.

import type { ExecutionState, ExitStatus, InitStage } from '../protocol/job.js';
import type { JobEventRow, JobRow, StoredJobRequest, SupervisorRow, UserRow } from './schema.js';

export type { JobEventRow, JobRow, StoredJobRequest, SupervisorRow, UserRow } from './schema.js';

/** A refusal the store states in words (a name or e-mail address taken, a duplicate id). */
export class StoreConflict extends Error {
  override name = 'StoreConflict';
}

/**
 * The database could not do what was asked for a reason outside the request: its disk is full
 * (`full`), or it cannot be read or written now (`unavailable`). Nothing of the call was kept.
 */
export class StoreUnavailable extends Error {
  override name = 'StoreUnavailable';
  constructor(
    readonly kind: 'full' | 'unavailable',
    message: string,
  ) {
    super(message);
  }
}

/** The database could not be opened or read as a switchboard database. */
export class StoreOpenError extends Error {
  override name = 'StoreOpenError';
}

export interface TokenOwner extends UserRow {
  token_hash: Buffer;
  expires_at: number | null;
}

export interface TokenInfo {
  token_hash: Buffer;
  user_id: string;
  user_name: string;
  created_at: number;
  expires_at: number | null;
}

/** One of a user's own API tokens (its hash, never the token). */
export type UserTokenInfo = Pick<TokenInfo, 'token_hash' | 'created_at' | 'expires_at'>;

/** A web console session and the user it logs in (only while that user is not locked out). */
export interface SessionOwner extends UserRow {
  token_hash: Buffer;
  expires_at: number;
}

/** When the console chunk at `offset` arrived. */
export interface ConsoleTimeRow {
  offset: number;
  at: number;
}

/** The columns of a job that change after it is queued. */
export interface JobUpdate {
  id: string;
  state: ExecutionState;
  stage: InitStage | null;
  status_message: string | null;
  exit_status: ExitStatus | null;
  exit_message: string | null;
  supervisor_id: string | null;
  scheduled_at: number | null;
  updated_at: number;
  terminated_at: number | null;
  /** Console bounds to store with the row (see insertLog); without them the row keeps its own. */
  log?: { start: number; end: number };
}

export interface ActiveJobRow extends JobRow {
  /** Bytes of the request as stored (its JSON in UTF-8): what a queued job counts against its owner's limit. */
  request_bytes: number;
}

/** Which jobs a listing shows; every filter is optional. */
export interface JobPageQuery {
  limit: number;
  /** Only jobs enqueued before the one with this `seq` (the last of the page before). */
  beforeSeq?: number;
  ownerId?: string;
  state?: ExecutionState;
  exitStatus?: ExitStatus;
  supervisorId?: string;
  /** Only jobs queued at or after this time (ms since the epoch). */
  queuedFrom?: number;
}

/** The web console's job list: the filters of JobPageQuery and a few more. */
export interface ListedJobsQuery {
  limit: number;
  beforeSeq?: number;
  ownerId?: string;
  /** The owner's user name. */
  ownerName?: string;
  state?: ExecutionState;
  exitStatus?: ExitStatus;
  /** A supervisor's id or name. */
  supervisor?: string;
  /** Jobs whose tag_config holds this text (the caller matches whole tags). */
  tagText?: string;
  /** Jobs started from an image whose id starts with these hex digits. */
  imagePrefix?: string;
  queuedFrom?: number;
  /** Only jobs queued before this time. */
  queuedUntil?: number;
}

/** A listed job with its owner's and supervisor's names. */
export type ListedJobRow = JobRow & { owner_name: string; supervisor_name: string | null };

export type NewJobEvent = Omit<JobEventRow, 'seq'>;

export interface NewJob {
  id: string;
  ownerId: string;
  request: StoredJobRequest;
}

export interface LogChunk {
  offset: number;
  data: Buffer;
}

export interface SwitchboardStore {
  /**
   * Runs `fn` in one transaction: all of its writes through `tx` commit, or none. Within it, `tx`
   * is the store (its own `transaction` joins the one open); calls on the outer store wait for it
   * on SQLite and run beside it on PostgreSQL.
   */
  transaction<T>(fn: (tx: SwitchboardStore) => Promise<T>): Promise<T>;
  /**
   * The job, its row locked until the transaction ends where the engine locks rows: two
   * switchboards changing one job take turns, each seeing what the other committed.
   */
  jobForUpdate(id: string): Promise<JobRow | undefined>;
  /**
   * As jobForUpdate, with the job's request, in one read; but a row that another transaction holds
   * locked is not waited for: `locked`. A switchboard starting jobs passes over one that another
   * is changing (starting it, most likely) rather than queue behind it, or deadlock with it when
   * the two see the queue in different orders.
   */
  jobAndRequestUnlessLocked(id: string): Promise<{ job: JobRow; request: StoredJobRequest } | 'locked' | undefined>;
  close(): Promise<void>;
  /** Tells the other switchboards on this database each payload (a change feed notice) once this commits. */
  notify(...payloads: string[]): Promise<void>;

  // -- users and tokens --
  /** Throws (StoreUnavailable, or the driver's error) when the database does not answer a trivial query. */
  ping(): Promise<void>;

  /** Names and e-mail addresses share one space, so a login identifier names one user. */
  addUser(name: string, passwordHash: string | null, isAdmin: boolean, email?: string | null): Promise<UserRow>;
  userByName(name: string): Promise<UserRow | undefined>;
  /** The user with this name, else the one with this e-mail address (ASCII case-insensitive). */
  userByIdentifier(identifier: string): Promise<UserRow | undefined>;
  userById(id: string): Promise<UserRow | undefined>;
  /** Every user, by name. */
  users(): Promise<UserRow[]>;
  /** Removes a user who owns no job (with their tokens and sessions); `has_jobs` otherwise. */
  removeUser(id: string): Promise<'removed' | 'has_jobs' | 'not_found'>;
  /** Locks a user out (at `at`) or, with null, lets them in again. */
  setUserLocked(id: string, at: number | null): Promise<void>;
  /** Stores a token's hash; returns when it was created. */
  addToken(hash: Buffer, userId: string, expiresAt: number | null): Promise<number>;
  /** Every API token (its hash, never the token), newest first. */
  tokens(): Promise<TokenInfo[]>;
  /** Deletes the token with this hash; false if there was none. */
  removeToken(hash: Buffer): Promise<boolean>;
  tokenByHash(hash: Buffer): Promise<TokenOwner | undefined>;
  /** A user's tokens that have not expired at `now`, newest first, at most `limit`. */
  userTokens(userId: string, now: number, limit: number): Promise<UserTokenInfo[]>;
  /** Deletes the token with this hash if this user holds it; false otherwise. */
  removeUserToken(userId: string, hash: Buffer): Promise<boolean>;
  /** Deletes expired tokens; returns how many. */
  pruneExpiredTokens(now?: number): Promise<number>;

  // -- supervisors --
  /** `id` is given when the supervisor already has one (upstream supervisors carry it in their config). */
  addSupervisor(name: string, tags: string, tokenHash: Buffer, id?: string): Promise<SupervisorRow>;
  supervisors(): Promise<SupervisorRow[]>;
  supervisorById(id: string): Promise<SupervisorRow | undefined>;
  /** Removes a supervisor with no job in progress; its past jobs no longer name it. */
  removeSupervisor(id: string): Promise<'removed' | 'has_active_jobs' | 'not_found'>;
  setSupervisorTags(id: string, tags: string): Promise<void>;
  /**
   * The jobs in progress on a supervisor, as stored: none or one, unless something went wrong (a
   * few at most are read). In a transaction, the supervisor's row is locked first where rows lock:
   * two switchboards starting jobs on one supervisor take turns. Changes to jobs' rows made in the
   * transaction may not be counted yet: its caller knows them.
   */
  activeJobsOf(supervisorId: string): Promise<string[]>;
  /** When the supervisor last sent an event for one of its jobs; null if it never did. */
  supervisorLastSeen(id: string): Promise<number | null>;

  // -- jobs --
  /** Stores a queued job; returns its row as stored. */
  insertJob(id: string, ownerId: string, request: StoredJobRequest, now: number): Promise<JobRow>;
  /** Stores queued jobs, enqueued in the order given (few statements for many); returns their rows in that order. */
  insertJobs(jobs: NewJob[], now: number): Promise<JobRow[]>;
  job(id: string): Promise<JobRow | undefined>;
  /** The request a job was queued with (parsed from its stored JSON). */
  jobRequest(id: string): Promise<StoredJobRequest | undefined>;
  /** Jobs that are not terminated, in enqueue order, each with the size of its stored request. */
  activeJobs(): Promise<ActiveJobRow[]>;
  /** Up to `limit` jobs that pass the query's filters, newest first. */
  jobPage(query: JobPageQuery): Promise<JobRow[]>;
  /** As jobPage, for the web console's filters, with the owner's and supervisor's names. */
  listedJobs(query: ListedJobsQuery): Promise<ListedJobRow[]>;
  updateJob(update: JobUpdate): Promise<void>;
  /** Stores events in the order given. */
  insertEvents(events: NewJobEvent[]): Promise<void>;
  /** A job's events in the order they were written: those after sequence number `after`, at most `limit`. */
  events(jobId: string, after?: number, limit?: number): Promise<JobEventRow[]>;
  eventCount(jobId: string): Promise<number>;

  // -- console log: chunks keyed by absolute byte offset; only the newest `keep` bytes are kept --
  /**
   * Stores `data` at `logEnd` and drops chunks older than the newest `keep` bytes; returns the new
   * bounds, which the job's row takes from setLogBounds or updateJob in the same transaction.
   */
  insertLog(
    jobId: string,
    logStart: number,
    logEnd: number,
    data: Buffer,
    keep: number,
  ): Promise<{ start: number; end: number }>;
  setLogBounds(jobId: string, start: number, end: number): Promise<void>;
  /** Up to `maxChunks` stored chunks that hold bytes at or after `offset`. */
  readLog(jobId: string, offset: number, maxChunks: number): Promise<LogChunk[]>;
  /** The offset of the newest stored chunk; undefined when the job has none. */
  lastLogOffset(jobId: string): Promise<number | undefined>;

  // -- the web console: sessions, and when console chunks arrived --
  /** Stores a session's hash (after removing sessions expired at `now`). */
  addSession(hash: Buffer, userId: string, now: number, expiresAt: number): Promise<void>;
  /** The session with this hash and its user, unless the user is locked out (expiry is the caller's check). */
  session(hash: Buffer): Promise<SessionOwner | undefined>;
  removeSession(hash: Buffer): Promise<void>;
  /** Records (or moves) the time of the chunk at `offset`; marks before the one in force at `start` go. */
  putConsoleTime(jobId: string, offset: number, at: number, start: number): Promise<void>;
  /** The marks in force for bytes `from` to `to` (the one at or before `from` first), at most `limit`. */
  consoleTimes(jobId: string, from: number, to: number, limit: number): Promise<ConsoleTimeRow[]>;
}
