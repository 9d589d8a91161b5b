// Lifecycle-checked changes to jobs. Every change is checked against lifecycle.ts, written with
// its event records in one transaction, and announced with a 'changed' event once it commits; a
// refused change writes nothing. Changes made together (a supervisor's messages that arrived at
// once) share one transaction: see `batch`. Where other switchboards share the database, each
// commit tells them (the change feed), and what they commit is announced here as if it were ours.

import { EventEmitter } from 'node:events';
import type { ExecutionState, ExitStatus, InitStage } from '../protocol/job.js';
import { encodeNotice, type ChangeFeed, type FeedNotice } from './change-feed.js';
import type { JobRow, NewJob, NewJobEvent, StoredJobRequest, SwitchboardStore } from './store.js';
import { MAX_EVENTS_PER_JOB, MAX_EXIT_MESSAGE_BYTES, MAX_STATUS_MESSAGE_BYTES, capNullable } from './caps.js';
import { type Actor, checkExitStatus, checkStateTransition } from './lifecycle.js';

export interface JobChange {
  actor: Actor;
  /** Set first, checked against the state the job is in before `state` applies. */
  exitStatus?: { to: ExitStatus; message: string | null; by?: Actor };
  state?: { to: ExecutionState; stage?: InitStage | null; statusMessage?: string | null; supervisorId?: string };
  /** A sub-state of the current state (a state_transition to the state the job is in). */
  subState?: { stage: InitStage | null; statusMessage: string | null };
  /** Only if the job is in this state when the change is made (another switchboard may have moved it). */
  expectState?: ExecutionState;
  /** Only if this supervisor has no other job in progress (checked with its row locked). */
  idleSupervisor?: string;
  /**
   * Read the job's request with its row (for a start_job), unless another transaction holds the
   * row: then nothing changes and the result says `locked` (see jobAndRequestUnlessLocked).
   */
  readRequest?: boolean;
}

export type ChangeResult =
  | { ok: true; job: JobRow; request?: StoredJobRequest }
  | { ok: false; reason: string; job: JobRow | undefined; locked?: true };

/** Bytes of console output kept per job; older output is dropped. */
export const DEFAULT_LOG_KEEP_BYTES = 4 * 1024 * 1024;

/**
 * Console chunks that arrive within this long of a job's last time mark share it: the web console
 * shows when output came without a row per chunk.
 */
export const TIME_MARK_MS = 50;

export interface JobStoreEvents {
  changed: [job: JobRow];
  log: [jobId: string, end: number];
}

/**
 * What one transaction has changed so far, kept in memory until it commits: each job's row is
 * read (and locked, where rows lock) once, then written once with all of its events, and the
 * other switchboards are told once per job. Nothing is announced before the commit.
 */
interface Unit {
  tx: SwitchboardStore;
  /** Jobs read in this transaction, as changed so far (locked rows only: they are current). */
  rows: Map<string, JobRow>;
  /** Of those, the ones changed. */
  dirty: Set<string>;
  /** Of those, the ones changed since they were last written into the transaction. */
  unwritten: Set<string>;
  events: NewJobEvent[];
  /** Console bounds of jobs whose output was stored in this transaction. */
  logs: Map<string, { start: number; end: number }>;
  /** Of those, the jobs whose row does not have them yet. */
  logsUnwritten: Set<string>;
  /** For the change feed: the last notice per job and kind. */
  notices: Map<string, FeedNotice>;
  /** What to announce once it commits, in order. */
  announce: Array<{ kind: 'changed'; job: JobRow } | { kind: 'log'; id: string; end: number }>;
  /** What to do once it commits and is announced (see afterCommit). */
  after: Array<() => void>;
}

/** What a change makes of a job: its new row and event records, or why the lifecycle refuses it. */
function decide(
  before: JobRow,
  change: JobChange,
  now: number,
): { job: JobRow; events: NewJobEvent[] } | { reason: string } {
  const job: JobRow = { ...before };
  const events: NewJobEvent[] = [];
  const record = (kind: NewJobEvent['kind'], by: Actor, statusMessage: string | null) =>
    events.push({
      job_id: job.id,
      at: now,
      kind,
      by,
      state: job.state,
      stage: job.stage,
      status_message: statusMessage,
      exit_status: job.exit_status,
    });
  if (change.exitStatus) {
    const by = change.exitStatus.by ?? change.actor;
    const why = checkExitStatus(by, job.state, job.exit_status, change.exitStatus.to);
    if (why) return { reason: why };
    job.exit_status = change.exitStatus.to;
    job.exit_message = capNullable(change.exitStatus.message, MAX_EXIT_MESSAGE_BYTES);
    record('exit_status', by, job.exit_message);
  }
  if (change.state) {
    const why = checkStateTransition(change.actor, job.state, change.state.to);
    if (why) return { reason: why };
    job.state = change.state.to;
    job.stage = change.state.stage ?? null;
    job.status_message = capNullable(change.state.statusMessage, MAX_STATUS_MESSAGE_BYTES);
    if (change.state.supervisorId !== undefined) job.supervisor_id = change.state.supervisorId;
    if (job.state === 'scheduled') job.scheduled_at = now;
    if (job.state === 'terminated') job.terminated_at = now;
    record('state', change.actor, job.status_message);
  }
  if (change.subState) {
    if (job.state === 'terminated') return { reason: 'job is terminated' };
    job.stage = change.subState.stage;
    job.status_message = capNullable(change.subState.statusMessage, MAX_STATUS_MESSAGE_BYTES);
    record('sub_state', change.actor, job.status_message);
  }
  job.updated_at = now;
  return { job, events };
}

/**
 * The jobs in progress on a supervisor once `unit` commits: those stored (`stored`) as this
 * transaction has changed them so far, and those it has put on the supervisor (a job ended earlier
 * in the batch no longer counts, one started earlier does).
 */
function busyWith(unit: Unit, supervisorId: string, stored: string[]): Set<string> {
  const inProgress = (row: JobRow) => row.supervisor_id === supervisorId && row.state !== 'terminated';
  const busy = new Set(stored.filter((id) => !unit.rows.has(id) || inProgress(unit.rows.get(id)!)));
  for (const row of unit.rows.values()) if (inProgress(row)) busy.add(row.id);
  return busy;
}

export class JobStore extends EventEmitter<JobStoreEvents> {
  // Jobs that are not terminated, as last committed here or told by the change feed, without their
  // requests (read when needed): the hot path (supervisor events, console output) needs no read
  // queries, and memory does not grow with what users send. Changes read the row afresh.
  private readonly active = new Map<string, JobRow>();
  /** Events stored so far, of active jobs that have had a change here. */
  private readonly eventCounts = new Map<string, number>();
  /** The transaction changes join (one at a time: only the scheduler, one operation after the other, changes jobs). */
  private unit: Unit | null = null;
  /** When each active job's console output was last marked with its arrival time (see TIME_MARK_MS). */
  private readonly lastMark = new Map<string, number>();
  /** Reads of jobs other switchboards changed, per job one after the other: a later read never sees an older row. */
  private readonly remoteReads = new Map<string, Promise<JobRow | undefined>>();

  constructor(
    private readonly store: SwitchboardStore,
    private readonly logKeepBytes = DEFAULT_LOG_KEEP_BYTES,
    private readonly now: () => number = Date.now,
    private readonly feed: ChangeFeed | null = null,
  ) {
    super();
    this.setMaxListeners(0);
  }

  /**
   * Runs `fn`, whose changes (apply, appendLog) all go into one transaction: they commit
   * together, then are announced in the order they were made; if any write fails, none is kept
   * or announced. Within it, `current` gives the jobs as changed so far.
   */
  async batch<T>(fn: () => Promise<T>): Promise<T> {
    if (this.unit) return fn();
    let unit: Unit | undefined;
    let result: T;
    try {
      result = await this.store.transaction(async (tx) => {
        unit = this.unit = {
          tx,
          rows: new Map(),
          dirty: new Set(),
          unwritten: new Set(),
          events: [],
          logs: new Map(),
          logsUnwritten: new Set(),
          notices: new Map(),
          announce: [],
          after: [],
        };
        const r = await fn();
        await this.write(unit);
        return r;
      });
    } catch (err) {
      // Counted events of a rolled-back transaction were not stored: count them again when next needed.
      for (const id of unit?.rows.keys() ?? []) this.eventCounts.delete(id);
      throw err;
    } finally {
      this.unit = null;
    }
    this.committed(unit!);
    return result;
  }

  private async write(unit: Unit): Promise<void> {
    await this.writeRows(unit);
    for (const id of unit.logsUnwritten) {
      const { start, end } = unit.logs.get(id)!;
      await unit.tx.setLogBounds(id, start, end);
    }
    if (unit.events.length > 0) await unit.tx.insertEvents(unit.events);
    if (this.feed && unit.notices.size > 0) {
      const replica = this.feed.replica;
      const notices = [...unit.notices.values()].map((n) =>
        n.kind === 'job' ? { ...n, row: this.withLog(unit, unit.rows.get(n.id)!) } : n,
      );
      await unit.tx.notify(...notices.map((n) => encodeNotice(replica, n)));
    }
  }

  /** The rows changed so far, with their console bounds, written into the transaction (a job changed again is written again). */
  private async writeRows(unit: Unit): Promise<void> {
    for (const id of unit.unwritten) {
      await unit.tx.updateJob({ ...unit.rows.get(id)!, log: unit.logs.get(id) });
      unit.logsUnwritten.delete(id);
    }
    unit.unwritten.clear();
  }

  /** A job's row with the console bounds this transaction stored. */
  private withLog(unit: Unit, row: JobRow): JobRow {
    const log = unit.logs.get(row.id);
    return log ? { ...row, log_start: log.start, log_end: log.end } : row;
  }

  private committed(unit: Unit): void {
    for (const id of unit.dirty) {
      const row = unit.rows.get(id)!;
      this.remember(this.withLog(unit, row));
      if (row.state === 'terminated') this.eventCounts.delete(id);
    }
    for (const [id, { start, end }] of unit.logs) {
      // Onto the row as it is now: a change committed while the chunk was written stays.
      const known = this.active.get(id);
      if (!unit.dirty.has(id) && known) this.active.set(id, { ...known, log_start: start, log_end: end });
    }
    for (const a of unit.announce) {
      if (a.kind === 'changed') this.emit('changed', a.job);
      else this.emit('log', a.id, a.end);
    }
    for (const f of unit.after) f();
  }

  /**
   * Runs `f` once the batch it is called in has committed and been announced, or at once outside
   * a batch: what is told outside the database (a supervisor's start_job) must not be told of a
   * change that is then rolled back.
   */
  afterCommit(f: () => void): void {
    if (this.unit) this.unit.after.push(f);
    else f();
  }

  /** Whether job `id` is terminated by the open batch (committed or not, it is no longer in progress there). */
  terminatedInBatch(id: string): boolean {
    return this.unit?.rows.get(id)?.state === 'terminated';
  }

  /** Another switchboard committed a change of job `id`: its row as the database has it now. */
  readRemote(id: string): Promise<JobRow | undefined> {
    const before = this.remoteReads.get(id) ?? Promise.resolve(undefined);
    const read = before.catch(() => undefined).then(() => this.store.job(id));
    this.remoteReads.set(id, read);
    const done = () => {
      if (this.remoteReads.get(id) === read) this.remoteReads.delete(id);
    };
    read.then(done, done);
    return read;
  }

  /** A row another switchboard committed (told or read): announced as ours, unless what is known here is newer. */
  remoteChange(row: JobRow | undefined): void {
    if (!row) return;
    const known = this.active.get(row.id);
    // A notice read late must not take the cache back to an older row.
    if (known && known.updated_at > row.updated_at && known.log_end >= row.log_end) return;
    // Console bounds only grow, and a log notice may have come before this row.
    const job =
      known && known.log_end > row.log_end ? { ...row, log_start: known.log_start, log_end: known.log_end } : row;
    this.remember(job);
    this.emit('changed', job);
  }

  /** Another switchboard stored more of job `id`'s console: its bounds, without a read. */
  remoteLog(id: string, start: number, end: number): void {
    const known = this.active.get(id);
    if (known && known.log_end < end) this.active.set(id, { ...known, log_start: start, log_end: end });
    this.emit('log', id, end);
  }

  /** After notices may have been missed: every job is read afresh when next asked for. */
  forgetCached(): void {
    this.active.clear();
    this.eventCounts.clear();
  }

  async create(id: string, ownerId: string, request: StoredJobRequest): Promise<JobRow> {
    return (await this.createMany([{ id, ownerId, request }]))[0]!;
  }

  /** Queues jobs in one transaction: all of them, or none. */
  async createMany(jobs: NewJob[]): Promise<JobRow[]> {
    const now = this.now();
    const rows = await this.store.transaction(async (tx) => {
      const rows = await tx.insertJobs(jobs, now);
      await tx.insertEvents(
        jobs.map(({ id }) => ({
          job_id: id,
          at: now,
          kind: 'state' as const,
          by: 'switchboard' as const,
          state: 'queued' as const,
          stage: null,
          status_message: null,
          exit_status: null,
        })),
      );
      const feed = this.feed;
      if (feed) await tx.notify(...rows.map((row) => encodeNotice(feed.replica, { kind: 'job', id: row.id, row })));
      return rows;
    });
    for (const row of rows) {
      this.remember(row);
      this.eventCounts.set(row.id, 1);
    }
    return rows;
  }

  /** The job as last committed. */
  async get(id: string): Promise<JobRow | undefined> {
    const cached = this.active.get(id);
    if (cached) return cached;
    const job = await this.store.job(id);
    if (job) this.remember(job);
    return job;
  }

  /** In a batch, the job as changed so far in it; otherwise as last committed. */
  async current(id: string): Promise<JobRow | undefined> {
    const unit = this.unit;
    if (!unit) return this.get(id);
    // Read in the batch's transaction: SQLite's one connection is the transaction's until it ends.
    const row = unit.rows.get(id) ?? this.active.get(id) ?? (await unit.tx.job(id));
    return row && this.withLog(unit, row);
  }

  /** The request of a job that exists (read from the store each time, in the batch's transaction if there is one). */
  async request(job: JobRow): Promise<StoredJobRequest> {
    const req = await (this.unit?.tx ?? this.store).jobRequest(job.id);
    if (!req) throw new Error(`job ${job.id} has no stored request`);
    return req;
  }

  private remember(job: JobRow): void {
    if (job.state === 'terminated') {
      this.active.delete(job.id);
      this.lastMark.delete(job.id);
    } else {
      this.active.set(job.id, job);
    }
  }

  /** Applies `change` to job `id` if the lifecycle allows all of it; otherwise changes nothing. */
  async apply(id: string, change: JobChange): Promise<ChangeResult> {
    const unit = this.unit;
    if (!unit) return this.batch(() => this.apply(id, change));
    // Read in the transaction (and locked, where rows lock): what another writer committed counts.
    let before = unit.rows.get(id);
    let request: StoredJobRequest | undefined;
    if (change.readRequest) {
      const read = await unit.tx.jobAndRequestUnlessLocked(id);
      if (read === 'locked')
        return { ok: false, reason: 'another switchboard is changing it', job: before, locked: true };
      if (!read) return { ok: false, reason: 'no such job', job: undefined };
      request = read.request;
      // A row changed earlier in this batch is newer than the one read.
      before ??= read.job;
      unit.rows.set(id, before);
    } else if (!before) {
      before = await unit.tx.jobForUpdate(id);
      if (!before) return { ok: false, reason: 'no such job', job: undefined };
      unit.rows.set(id, before);
    }
    if (change.expectState !== undefined && before.state !== change.expectState) {
      return { ok: false, reason: `job is ${before.state}, not ${change.expectState}`, job: before };
    }
    if (change.idleSupervisor !== undefined) {
      const busy = busyWith(unit, change.idleSupervisor, await unit.tx.activeJobsOf(change.idleSupervisor));
      busy.delete(id);
      if (busy.size > 0) {
        return { ok: false, reason: `supervisor ${change.idleSupervisor} runs job ${[...busy][0]}`, job: before };
      }
    }
    const decided = decide(before, change, this.now());
    if ('reason' in decided) return { ok: false, reason: decided.reason, job: before };
    const { job, events } = decided;
    let count = this.eventCounts.get(id) ?? (await unit.tx.eventCount(id));
    for (const e of events) {
      if (count >= MAX_EVENTS_PER_JOB && e.state !== 'terminated') continue;
      unit.events.push(e);
      count++;
    }
    this.eventCounts.set(id, count);
    unit.rows.set(id, job);
    unit.dirty.add(id);
    unit.unwritten.add(id);
    unit.notices.set(`job:${id}`, { kind: 'job', id });
    unit.announce.push({ kind: 'changed', job });
    return { ok: true, job, request };
  }

  async appendLog(id: string, data: Buffer): Promise<boolean> {
    if (data.length === 0) return true;
    const unit = this.unit;
    if (!unit) return this.batch(() => this.appendLog(id, data));
    const job = await this.current(id);
    if (!job || job.state === 'terminated') return false;
    const bounds = await unit.tx.insertLog(id, job.log_start, job.log_end, data, this.logKeepBytes);
    // The switchboard that stores a chunk marks when it came (chunks are keyed by where they start).
    const now = this.now();
    const last = this.lastMark.get(id);
    if (last === undefined || now - last >= TIME_MARK_MS) {
      await unit.tx.putConsoleTime(id, job.log_end, now, bounds.start);
      this.lastMark.set(id, now);
    }
    unit.logs.set(id, bounds);
    unit.logsUnwritten.add(id);
    unit.notices.set(`log:${id}`, { kind: 'log', id, ...bounds });
    unit.announce.push({ kind: 'log', id, end: bounds.end });
    return true;
  }
}
