// Lifecycle-checked changes to jobs. Every change is checked against lifecycle.ts, written with
// its event records in one transaction, and announced with a 'changed' event; a refused change
// writes nothing. Where other switchboards share the database, each commit tells them (the change
// feed), and what they commit is announced here as if it were ours.

import { EventEmitter } from 'node:events';
import type { ExecutionState, ExitStatus, InitStage } from '../protocol/job.js';
import { encodeNotice, type ChangeFeed, type FeedNotice } from './change-feed.js';
import type { JobRow, NewJobEvent, StoredJobRequest, SwitchboardStore } from './store.js';
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
}

export type ChangeResult = { ok: true; job: JobRow } | { ok: false; reason: string; job: JobRow | undefined };

/** Bytes of console output kept per job; older output is dropped. */
export const DEFAULT_LOG_KEEP_BYTES = 4 * 1024 * 1024;

export interface JobStoreEvents {
  changed: [job: JobRow];
  log: [jobId: string, end: number];
}

export class JobStore extends EventEmitter<JobStoreEvents> {
  // Jobs that are not terminated, as last committed here or told by the change feed, without their
  // requests (read when needed): the hot path (supervisor events, console output) needs no read
  // queries, and memory does not grow with what users send. Changes read the row afresh.
  private readonly active = new Map<string, JobRow>();
  /** Events stored so far, of active jobs that have had a change here. */
  private readonly eventCounts = new Map<string, number>();

  constructor(
    private readonly store: SwitchboardStore,
    private readonly logKeepBytes = DEFAULT_LOG_KEEP_BYTES,
    private readonly now: () => number = Date.now,
    private readonly feed: ChangeFeed | null = null,
  ) {
    super();
    this.setMaxListeners(0);
  }

  /** Tells the other switchboards, when `tx` commits. */
  private async tell(tx: SwitchboardStore, notice: FeedNotice): Promise<void> {
    if (this.feed) await tx.notify(encodeNotice(this.feed.replica, notice));
  }

  /** Another switchboard committed a change of job `id`: announced as ours. */
  async remoteChange(id: string): Promise<void> {
    const job = await this.store.job(id);
    if (!job) return;
    const known = this.active.get(id);
    // A notice read late must not take the cache back to an older row.
    if (known && known.updated_at > job.updated_at && known.log_end >= job.log_end) return;
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
    const now = this.now();
    const job = await this.store.transaction(async (tx) => {
      await tx.insertJob(id, ownerId, request, now);
      await tx.insertEvent({
        job_id: id,
        at: now,
        kind: 'state',
        by: 'switchboard',
        state: 'queued',
        stage: null,
        status_message: null,
        exit_status: null,
      });
      await this.tell(tx, { kind: 'job', id });
      return (await tx.job(id))!;
    });
    this.remember(job);
    return job;
  }

  async get(id: string): Promise<JobRow | undefined> {
    const cached = this.active.get(id);
    if (cached) return cached;
    const job = await this.store.job(id);
    if (job) this.remember(job);
    return job;
  }

  /** The request of a job that exists (read from the store each time). */
  async request(job: JobRow): Promise<StoredJobRequest> {
    const req = await this.store.jobRequest(job.id);
    if (!req) throw new Error(`job ${job.id} has no stored request`);
    return req;
  }

  private remember(job: JobRow): void {
    if (job.state === 'terminated') {
      this.active.delete(job.id);
    } else {
      this.active.set(job.id, job);
    }
  }

  /** Applies `change` to job `id` if the lifecycle allows all of it; otherwise changes nothing. */
  async apply(id: string, change: JobChange): Promise<ChangeResult> {
    const result = await this.store.transaction(async (tx): Promise<ChangeResult> => {
      // Read in the transaction (and locked, where rows lock): what another writer committed counts.
      const before = await tx.jobForUpdate(id);
      if (!before) return { ok: false, reason: 'no such job', job: undefined };
      if (change.expectState !== undefined && before.state !== change.expectState) {
        return { ok: false, reason: `job is ${before.state}, not ${change.expectState}`, job: before };
      }
      if (change.idleSupervisor !== undefined) {
        const busy = await tx.activeJobOf(change.idleSupervisor);
        if (busy !== undefined && busy !== id) {
          return { ok: false, reason: `supervisor ${change.idleSupervisor} runs job ${busy}`, job: before };
        }
      }
      const job: JobRow = { ...before };
      const now = this.now();
      const events: NewJobEvent[] = [];
      if (change.exitStatus) {
        const by = change.exitStatus.by ?? change.actor;
        const why = checkExitStatus(by, job.state, job.exit_status, change.exitStatus.to);
        if (why) return { ok: false, reason: why, job: before };
        job.exit_status = change.exitStatus.to;
        job.exit_message = capNullable(change.exitStatus.message, MAX_EXIT_MESSAGE_BYTES);
        events.push({
          job_id: id,
          at: now,
          kind: 'exit_status',
          by,
          state: job.state,
          stage: job.stage,
          status_message: job.exit_message,
          exit_status: job.exit_status,
        });
      }
      if (change.state) {
        const why = checkStateTransition(change.actor, job.state, change.state.to);
        if (why) return { ok: false, reason: why, job: before };
        job.state = change.state.to;
        job.stage = change.state.stage ?? null;
        job.status_message = capNullable(change.state.statusMessage, MAX_STATUS_MESSAGE_BYTES);
        if (change.state.supervisorId !== undefined) job.supervisor_id = change.state.supervisorId;
        if (job.state === 'scheduled') job.scheduled_at = now;
        if (job.state === 'terminated') job.terminated_at = now;
        events.push({
          job_id: id,
          at: now,
          kind: 'state',
          by: change.actor,
          state: job.state,
          stage: job.stage,
          status_message: job.status_message,
          exit_status: job.exit_status,
        });
      }
      if (change.subState) {
        if (job.state === 'terminated') return { ok: false, reason: 'job is terminated', job: before };
        job.stage = change.subState.stage;
        job.status_message = capNullable(change.subState.statusMessage, MAX_STATUS_MESSAGE_BYTES);
        events.push({
          job_id: id,
          at: now,
          kind: 'sub_state',
          by: change.actor,
          state: job.state,
          stage: job.stage,
          status_message: job.status_message,
          exit_status: job.exit_status,
        });
      }
      job.updated_at = now;
      await tx.updateJob(job);
      let count = this.eventCounts.get(id) ?? (await tx.eventCount(id));
      for (const e of events) {
        if (count >= MAX_EVENTS_PER_JOB && e.state !== 'terminated') continue;
        await tx.insertEvent(e);
        count++;
      }
      if (job.state === 'terminated') this.eventCounts.delete(id);
      else this.eventCounts.set(id, count);
      await this.tell(tx, { kind: 'job', id });
      return { ok: true, job };
    });
    if (result.ok) {
      this.remember(result.job);
      this.emit('changed', result.job);
    }
    return result;
  }

  async appendLog(id: string, data: Buffer): Promise<boolean> {
    if (data.length === 0) return true;
    const job = await this.get(id);
    if (!job || job.state === 'terminated') return false;
    const { start, end } = await this.store.transaction(async (tx) => {
      const bounds = await tx.appendLog(id, job.log_start, job.log_end, data, this.logKeepBytes);
      await this.tell(tx, { kind: 'log', id, ...bounds });
      return bounds;
    });
    // Onto the row as it is now: a change committed while the chunk was written stays.
    const now = this.active.get(id);
    if (now) this.active.set(id, { ...now, log_start: start, log_end: end });
    this.emit('log', id, end);
    return true;
  }
}
