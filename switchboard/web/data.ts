// Everything the web console needs from the rest of the switchboard, as one narrow interface.
// The pages, the live console and the sessions talk to the switchboard only through WebData;
// adapter.ts implements it over today's JobStore, SwitchboardStore and Scheduler, and is the one
// file to rewrite when the storage layer changes. Times are milliseconds since the epoch; console
// offsets are absolute byte offsets into the job's console (see docs/switchboard.md).

import type { ExecutionState, ExitStatus, ImageSpec, InitStage } from '../../protocol/job.js';

export interface WebUser {
  id: string;
  name: string;
  isAdmin: boolean;
}

export interface JobSummary {
  id: string;
  owner: { id: string; name: string };
  state: ExecutionState;
  stage: InitStage | null;
  statusMessage: string | null;
  exitStatus: ExitStatus | null;
  /** The workload's host output or the error text that came with the exit status. */
  exitMessage: string | null;
  supervisor: { id: string; name: string } | null;
  tagConfig: string;
  tags: string[];
  initSpec: ImageSpec;
  queuedAt: number;
  scheduledAt: number | null;
  updatedAt: number;
  terminatedAt: number | null;
  /** The console bytes still stored are [start, end); `end` is everything ever received. */
  console: { start: number; end: number };
}

/** A parameter as pages may show it: a secret one has no value here at all. */
export type ShownParameter = { name: string; secret: true } | { name: string; secret: false; value: string };

export interface JobDetail extends JobSummary {
  parameters: ShownParameter[];
  sshKeys: string[];
  timeoutSeconds: number | null;
  remainingRestarts: number;
}

export interface JobFilter {
  state?: ExecutionState;
  exitStatus?: ExitStatus;
  /** Owner's user name. */
  owner?: string;
  /** Supervisor id or name. */
  supervisor?: string;
  /** One tag the job asked for (exact match on one of its tags). */
  tag?: string;
  /** Image id, or a prefix of one (at least 4 hex digits). */
  image?: string;
  /** queuedAt >= queuedFrom */
  queuedFrom?: number;
  /** queuedAt < queuedUntil */
  queuedUntil?: number;
}

export interface JobQuery {
  filter: JobFilter;
  /** Only this user's jobs; null for all (an admin's view). */
  ownerId: string | null;
  /** From `JobPage.next` of the previous page; null for the newest jobs. */
  cursor: string | null;
  limit: number;
}

export interface JobPage {
  /** Newest first. */
  jobs: JobSummary[];
  /** Cursor of the next (older) page, or null when this is the last. */
  next: string | null;
}

export type JobEventKind = 'state' | 'sub_state' | 'exit_status';

export interface JobEvent {
  /** Increasing with time within a job. */
  seq: number;
  at: number;
  kind: JobEventKind;
  by: 'switchboard' | 'supervisor';
  state: ExecutionState;
  stage: InitStage | null;
  statusMessage: string | null;
  exitStatus: ExitStatus | null;
}

export interface ConsoleSlice {
  /** Absolute offset of data[0]; greater than asked for when older bytes are no longer stored. */
  offset: number;
  data: Buffer;
}

/** From `at` on (until the next mark), console bytes were received at time `time`. */
export interface ConsoleTimeMark {
  offset: number;
  time: number;
}

export interface SupervisorSummary {
  id: string;
  name: string;
  tags: string[];
  connection: 'idle' | 'busy' | 'disconnected';
  currentJobId: string | null;
  /** Last time it was heard from (connected now: now), or null if never. */
  lastSeenAt: number | null;
}

export interface ApiTokenInfo {
  /** A public handle (not the token, not usable to authenticate). */
  id: string;
  createdAt: number;
  expiresAt: number | null;
}

export interface SessionRecord {
  user: WebUser;
  expiresAt: number;
}

export type ActionResult<T = object> = ({ ok: true } & T) | { ok: false; message: string };

export type JobWatchEvent = { kind: 'changed' } | { kind: 'console'; end: number };

export interface WebData {
  // -- jobs --
  listJobs(query: JobQuery): Promise<JobPage>;
  job(id: string): Promise<JobDetail | null>;
  /** The job's events with seq > afterSeq, oldest first, at most `limit`. */
  jobEvents(id: string, afterSeq: number, limit: number): Promise<JobEvent[]>;
  /** Console bytes from `offset` on, at most `maxBytes`; empty at the end. */
  readConsole(id: string, offset: number, maxBytes: number): Promise<ConsoleSlice>;
  /** Receive-time marks covering [from, to): the last one at or before `from`, then those inside. */
  consoleTimes(id: string, from: number, to: number): Promise<ConsoleTimeMark[]>;
  /**
   * The job's secret parameter values, only so that console output and messages can be redacted
   * before they are shown. Never rendered.
   */
  secretValues(id: string): Promise<string[]>;
  /** Calls `listener` after the job changed or its console grew; returns the unsubscribe. */
  watch(id: string, listener: (e: JobWatchEvent) => void): () => void;
  cancelJob(id: string, by: WebUser): Promise<ActionResult>;
  /** Enqueues the job's request again as `as`'s job. */
  runAgain(id: string, as: WebUser): Promise<ActionResult<{ jobId: string }>>;

  // -- supervisors --
  supervisors(): Promise<SupervisorSummary[]>;
  supervisor(id: string): Promise<SupervisorSummary | null>;

  // -- users, sessions (stored by hash only), API tokens --
  /** The user if the password is right; costs the same time for unknown users. */
  checkPassword(name: string, password: string): Promise<WebUser | null>;
  createSession(tokenHash: Buffer, userId: string, expiresAt: number): Promise<void>;
  /** The session's user, or null if unknown or expired. */
  session(tokenHash: Buffer): Promise<SessionRecord | null>;
  deleteSession(tokenHash: Buffer): Promise<void>;
  /** A new REST API token: the token itself is returned once and stored only as a hash. */
  createApiToken(userId: string, expiresAt: number | null): Promise<{ token: string; info: ApiTokenInfo }>;
  apiTokens(userId: string): Promise<ApiTokenInfo[]>;
  /** False if the user has no token with that id. */
  revokeApiToken(userId: string, id: string): Promise<boolean>;

  /** Stops watchers and timers (the database itself belongs to the switchboard). */
  close(): void;
}
