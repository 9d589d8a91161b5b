// Decides which job runs where and when jobs end for reasons outside the host: matching, the
// queue and job timeouts, cancellation, and supervisors that vanish. Supervisor connections are
// abstract links here (supervisor-hub.ts owns the WebSocket side), so this runs without sockets.
//
// Its operations (a request, a supervisor's message, a deadline) run one at a time, in the order
// they arrived: each sees the in-memory view and the database as the one before it left them.
//
// Several replicas may share one database (PostgreSQL). Each knows every queued and running job
// (the change feed tells it what the others commit) but holds only its own supervisors'
// connections: it starts jobs on those alone, and a job is started at most once because the
// change is made with the job's and the supervisor's rows locked (jobs.ts). Timeouts are armed
// on every replica; the first to fire makes the change, the others' are refused by the lifecycle.

import { randomUUID } from 'node:crypto';
import type { ExitStatus, RunningJobState } from '../protocol/job.js';
import {
  CLOSE_CODES,
  startJobMessage,
  type JobError,
  type JobEvent,
  type SupervisorStatus,
  type SupervisorEventMessage,
  type ToSupervisor,
  type ToSwitchboard,
} from '../protocol/switchboard-ws.js';
import {
  StoreUnavailable,
  type JobRow,
  type StoredJobRequest,
  type SupervisorRow,
  type SwitchboardStore,
} from './store.js';
import { Deadlines, systemClock, type Clock } from './deadlines.js';
import type { ChangeFeed, FeedMessage } from './change-feed.js';
import { SESSIONS_PER_NOTICE } from './change-feed.js';
import { HEARTBEAT_MS, Presence } from './presence.js';
import type { JobStore } from './jobs.js';
import { USER_EXIT_STATUS, errorIsNoFailure, exitStatusForError, exitStatusOnSupervisorMove } from './lifecycle.js';
import { parseTags, tagsMatch } from './matcher.js';
import type { Logger } from '../protocol/log.js';
import { matchTags } from './named-system.js';

export interface SchedulerConfig {
  queueTimeoutMs: number;
  jobTimeoutMs: number;
  /** How long a disconnected supervisor (or one that ignores stop_job) keeps its job. */
  gracePeriodMs: number;
  /** Most jobs one user may have queued at once. */
  maxQueuedJobsPerUser: number;
  /** Most bytes of requests (as stored) one user may have queued at once. */
  maxQueuedBytesPerUser: number;
}

/** A queued job as scheduling sees it: everything else stays in the database. */
interface QueuedJob {
  tags: string[];
  owner: string;
  bytes: number;
}

export interface SupervisorLink {
  send(msg: ToSupervisor): void;
  close(code: number, reason: string): void;
}

interface Session {
  link: SupervisorLink;
  name: string;
  tags: Set<string>;
  statusRequestId: string;
  /** Until its status_response is reconciled, a supervisor gets no new job. */
  reconciled: boolean;
  /** Jobs it runs that are not (or no longer) running jobs here; it is busy until they end. */
  foreign: Set<string>;
}

export type EnqueueResult =
  | { ok: true; job: JobRow }
  /** `no_match`: no registered supervisor has the tags; `queue_limit`: the owner has queued too much. */
  | { ok: false; reason: 'no_match' | 'queue_limit'; message: string };

/** A cancel request for an existing job always succeeds: the job is, or already was, on its way out. */
export type CancelResult = { ok: true; job: JobRow } | { ok: false; outcome: 'not_found' };

/** What the REST API tells about a supervisor's connection and work. */
export interface SupervisorLoad {
  connected: boolean;
  /** The job it runs: one dispatched to it here, else one it runs that was stopped here. */
  jobId: string | null;
  /** The job is no longer running here (the supervisor was told to stop it). */
  foreign: boolean;
}

/** A request to queue a job, waiting for its turn (see Scheduler.enqueue). */
interface PendingEnqueue {
  ownerId: string;
  request: StoredJobRequest;
  tags: string[];
  resolve: (r: EnqueueResult) => void;
  reject: (err: unknown) => void;
}

/** How long a read of the registered supervisors serves the enqueues that check their tags against it. */
const SUPERVISORS_FRESH_MS = 1000;

/** Jobs queued in one transaction at most: those whose requests came while the one before was stored. */
const ENQUEUES_PER_TRANSACTION = 100;

/** How long a deadline whose action found the database unavailable waits before trying again. */
const STORE_RETRY_MS = 1000;

/** How soon a dispatch that passed over jobs another replica was changing looks at the queue again. */
const DISPATCH_AGAIN_MS = 50;

export class Scheduler {
  private readonly sessions = new Map<string, Session>();
  /** supervisor id -> jobs dispatched to it and not terminated */
  private readonly assigned = new Map<string, Set<string>>();
  /** queued jobs by id, in enqueue order */
  private readonly queue = new Map<string, QueuedJob>();
  /** owner id -> what its queued jobs count against its limits */
  private readonly usage = new Map<string, { jobs: number; bytes: number }>();
  private readonly deadlines: Deadlines;
  private readonly onChanged = (job: JobRow) => this.jobChanged(job);
  private supervisorsRead: { at: number; rows: Promise<SupervisorRow[]> } | null = null;
  private stopped = false;
  /** The end of the last operation queued (see serial). */
  private tail: Promise<unknown> = Promise.resolve();
  /**
   * Enqueues take turns among themselves (each within its owner's limits), not with the rest: a
   * new job's row is nobody else's until it commits, so storing it need not wait for the events
   * and dispatches before it.
   */
  private enqueueTail: Promise<unknown> = Promise.resolve();
  /** Supervisors other replicas hold. */
  private readonly presence = new Presence();
  /** Jobs whose supervisor has been sent stop_job from here. */
  private readonly stopsSent = new Set<string>();
  private heartbeat: NodeJS.Timeout | null = null;
  /** Enqueues whose turn has not begun: those that come meanwhile join them. */
  private enqueues: PendingEnqueue[] | null = null;
  /** A dispatch is queued and has not begun (see requestDispatch). */
  private dispatchAsked = false;

  constructor(
    private readonly store: SwitchboardStore,
    private readonly jobs: JobStore,
    private readonly config: SchedulerConfig,
    private readonly log: Logger,
    private readonly clock: Clock = systemClock,
    private readonly feed: ChangeFeed | null = null,
  ) {
    this.deadlines = new Deadlines(clock, (key, err) => {
      if (err instanceof StoreUnavailable) {
        this.log.error(`${key}: ${err.message}; trying again in ${STORE_RETRY_MS} ms`);
        return STORE_RETRY_MS;
      }
      this.log.error(`${key} failed: ${(err as Error).stack ?? String(err)}`);
      return null;
    });
  }

  /** Runs `op` once every operation queued before it has ended. */
  private serial<T>(op: () => Promise<T>): Promise<T> {
    const run = this.tail.then(op);
    this.tail = run.catch(() => {});
    return run;
  }

  /** As serial, for operations nobody waits for: a failure is logged. */
  private background(what: string, op: () => Promise<void>): void {
    this.serial(op).catch((err: unknown) => {
      if (err instanceof StoreUnavailable) this.log.error(`${what}: ${err.message}`);
      else this.log.error(`${what} failed: ${(err as Error).stack ?? String(err)}`);
    });
  }

  /** Picks up where the database left off: queued jobs, running jobs and their supervisors. */
  async start(): Promise<void> {
    for (const job of await this.store.activeJobs()) {
      if (job.state === 'queued') {
        this.addQueued(job.id, { tags: parseTags(job.tag_config), owner: job.owner_id, bytes: job.request_bytes });
        this.armQueueTimeout(job);
      } else if (job.supervisor_id) {
        this.assign(job.supervisor_id, job.id);
        this.armJobTimeout(job);
      } else {
        await this.drop(job.id, 'job was dispatched to no supervisor');
      }
    }
    // Nobody is connected here yet: supervisors that had jobs get the grace period to come back
    // (to this replica or, as the change feed tells within it, to another).
    for (const supervisorId of this.assigned.keys()) this.armGrace(supervisorId);
    this.jobs.on('changed', this.onChanged);
    if (this.feed) {
      this.feed.subscribe(
        (m) => this.notice(m),
        () => this.background('reading the database again after the change feed was lost', () => this.resync()),
      );
      this.heartbeat = setInterval(() => this.beat(), HEARTBEAT_MS);
      this.heartbeat.unref();
      this.tellSessions();
    }
    if (this.queue.size > 0 || this.assigned.size > 0) {
      this.log.info(
        `resumed with ${this.queue.size} queued and ${[...this.assigned.values()].reduce((n, s) => n + s.size, 0)} running jobs`,
      );
    }
  }

  stop(): void {
    // Connections closing during shutdown must not arm timers that outlive the database.
    this.stopped = true;
    this.jobs.off('changed', this.onChanged);
    this.deadlines.stop();
    if (this.heartbeat) clearInterval(this.heartbeat);
  }

  // -- the other replicas --

  private notice(m: FeedMessage): void {
    if (this.stopped) return;
    switch (m.kind) {
      case 'job': {
        if (m.row) {
          const row = m.row;
          this.background(`job ${m.id} as another switchboard changed it`, async () => this.jobs.remoteChange(row));
          return;
        }
        // Read beside this replica's own work; announced in its turn.
        const read = this.jobs.readRemote(m.id);
        read.catch(() => {});
        this.background(`job ${m.id} as another switchboard changed it`, async () =>
          this.jobs.remoteChange(await read),
        );
        return;
      }
      case 'log':
        this.jobs.remoteLog(m.id, m.start, m.end);
        return;
      case 'sessions':
        this.presence.holds(m.from, m.supervisors, m.part, this.clock.now());
        return;
      case 'connected': {
        this.presence.connected(m.from, m.supervisor, this.clock.now());
        this.deadlines.clear(`grace:${m.supervisor}`);
        const here = this.sessions.get(m.supervisor);
        if (here) {
          this.log.info(`supervisor ${here.name} (${m.supervisor}) connected to another switchboard replica`);
          here.link.close(CLOSE_CODES.superseded, 'superseded by a newer connection of the same supervisor');
        }
        return;
      }
      case 'console_input':
        this.onConsoleInput?.(m.job, Buffer.from(m.bytes, 'base64'));
        return;
    }
  }

  /** Where console input for a job whose supervisor this replica holds goes (interactive.ts). */
  onConsoleInput: ((jobId: string, bytes: Buffer) => void) | null = null;

  /** Whether another replica holds the supervisor's connection. */
  heldElsewhere(supervisorId: string): boolean {
    return this.presence.elsewhere(supervisorId);
  }

  /** Sends console input to the replica that holds the job's supervisor. */
  async forwardConsoleInput(jobId: string, bytes: Buffer): Promise<void> {
    await this.feed?.publish({ kind: 'console_input', job: jobId, bytes: bytes.toString('base64') });
  }

  /** Names this replica's supervisors to the others (a heartbeat, and after each change). */
  private tellSessions(): void {
    if (!this.feed) return;
    const ids = [...this.sessions.keys()];
    for (let i = 0; i === 0 || i < ids.length; i += SESSIONS_PER_NOTICE) {
      this.feed
        .publish({
          kind: 'sessions',
          supervisors: ids.slice(i, i + SESSIONS_PER_NOTICE),
          part: i / SESSIONS_PER_NOTICE,
        })
        .catch((err: unknown) => this.log.warn(`change feed: ${(err as Error).message}`));
    }
  }

  private beat(): void {
    this.tellSessions();
    // A replica that fell silent took its supervisors' connections with it: they get the grace
    // period to come back, to any replica.
    for (const supervisorId of this.presence.expire(this.clock.now())) {
      if (!this.sessions.has(supervisorId) && this.assigned.get(supervisorId)?.size) this.armGrace(supervisorId);
    }
  }

  /** After notices may have been missed: the queue and who runs what, as the database has them. */
  private async resync(): Promise<void> {
    this.jobs.forgetCached();
    const active = await this.store.activeJobs();
    const queued = new Set<string>();
    for (const job of active) {
      if (job.state === 'queued') queued.add(job.id);
      this.jobChanged(job);
    }
    for (const id of [...this.queue.keys()]) if (!queued.has(id)) this.removeQueued(id);
    await this.dispatch();
  }

  // -- users --

  /**
   * Queues a job, unless no registered supervisor (connected or not) has all of its tags: then
   * nothing is created and the request is refused (upstream's `supervisor_match_error`).
   */
  async enqueue(ownerId: string, request: StoredJobRequest): Promise<EnqueueResult> {
    // Read beside the operations in turn: a supervisor added or removed meanwhile may count or not.
    const tags = parseTags(request.tag_config);
    const matches = (supervisors: SupervisorRow[]) =>
      supervisors.some((s) => tagsMatch(tags, matchTags(s, parseTags(s.tags))));
    // A read shared with other requests may have begun before a supervisor was added: a refusal reads again.
    if (!matches(await this.recentSupervisors()) && !matches(await this.recentSupervisors(true))) {
      const message = `no registered supervisor has all of the tags "${request.tag_config}"`;
      this.log.info(`refused a job: ${message}`);
      return { ok: false, reason: 'no_match', message };
    }
    return new Promise((resolve, reject) => {
      const e: PendingEnqueue = { ownerId, request, tags, resolve, reject };
      if (this.enqueues && this.enqueues.length < ENQUEUES_PER_TRANSACTION) {
        this.enqueues.push(e);
        return;
      }
      const batch = [e];
      this.enqueues = batch;
      const run = this.enqueueTail.then(() => {
        if (this.enqueues === batch) this.enqueues = null;
        return this.enqueueAll(batch);
      });
      this.enqueueTail = run.catch((err: unknown) => batch.forEach((b) => b.reject(err)));
    });
  }

  /**
   * The registered supervisors, as read at most SUPERVISORS_FRESH_MS ago (or `again`, now): one
   * read serves the requests that come meanwhile. A refusal reads again, so a supervisor added
   * since counts; one removed since may have a job accepted that then waits for a supervisor, as
   * when it is removed just after.
   */
  private recentSupervisors(again = false): Promise<SupervisorRow[]> {
    const now = this.clock.now();
    if (again || !this.supervisorsRead || now - this.supervisorsRead.at >= SUPERVISORS_FRESH_MS) {
      const read = { at: now, rows: this.store.supervisors() };
      read.rows.catch(() => {
        if (this.supervisorsRead === read) this.supervisorsRead = null;
      });
      this.supervisorsRead = read;
    }
    return this.supervisorsRead.rows;
  }

  /**
   * Queues what waited for this turn in one transaction, each within its owner's limits. The
   * answers do not wait for the jobs to start: dispatching follows in its own turn.
   */
  private async enqueueAll(batch: PendingEnqueue[]): Promise<void> {
    const accepted: Array<PendingEnqueue & { id: string; bytes: number }> = [];
    // What the jobs accepted before each one in this batch add to their owners' use.
    const added = new Map<string, { jobs: number; bytes: number }>();
    for (const e of batch) {
      const bytes = Buffer.byteLength(JSON.stringify(e.request));
      const queued = this.usage.get(e.ownerId) ?? { jobs: 0, bytes: 0 };
      const more = added.get(e.ownerId) ?? { jobs: 0, bytes: 0 };
      const used = { jobs: queued.jobs + more.jobs, bytes: queued.bytes + more.bytes };
      const over =
        used.jobs + 1 > this.config.maxQueuedJobsPerUser
          ? `${used.jobs} jobs queued, the most one user may have is ${this.config.maxQueuedJobsPerUser}`
          : used.bytes + bytes > this.config.maxQueuedBytesPerUser
            ? `${used.bytes} bytes of requests queued; this one (${bytes} bytes) would pass the limit of ${this.config.maxQueuedBytesPerUser} bytes per user`
            : null;
      if (over !== null) {
        this.log.info(`refused a job of user ${e.ownerId}: ${over}`);
        e.resolve({
          ok: false,
          reason: 'queue_limit',
          message: `${over}; wait for queued jobs to start or cancel some`,
        });
        continue;
      }
      added.set(e.ownerId, { jobs: more.jobs + 1, bytes: more.bytes + bytes });
      accepted.push({ ...e, id: randomUUID(), bytes });
    }
    if (accepted.length === 0) return;
    let rows: JobRow[];
    try {
      rows = await this.jobs.createMany(accepted.map(({ id, ownerId, request }) => ({ id, ownerId, request })));
    } catch (err) {
      for (const e of accepted) e.reject(err);
      return;
    }
    for (const [i, e] of accepted.entries()) {
      const job = rows[i]!;
      this.log.info(
        `job ${job.id} enqueued (tags "${e.request.tag_config}")${e.request.restart_of ? `, restarting job ${e.request.restart_of}` : ''}`,
      );
      this.addQueued(job.id, { tags: e.tags, owner: e.ownerId, bytes: e.bytes });
      this.armQueueTimeout(job);
      e.resolve({ ok: true, job });
    }
    this.requestDispatch();
  }

  cancel(jobId: string, by: string): Promise<CancelResult> {
    return this.serial(() => this.cancelNow(jobId, by));
  }

  private async cancelNow(jobId: string, by: string): Promise<CancelResult> {
    const job = await this.jobs.current(jobId);
    if (!job) return { ok: false, outcome: 'not_found' };
    if (job.state === 'terminated' || job.exit_status === 'job_canceled') return { ok: true, job };
    const message = `canceled by ${by}`;
    if (job.state === 'queued') {
      const r = await this.jobs.apply(jobId, {
        actor: 'switchboard',
        exitStatus: { to: 'job_canceled', message },
        state: { to: 'terminated' },
        expectState: 'queued',
      });
      if (r.ok) {
        this.log.info(`job ${jobId} ${message} while queued`);
        return { ok: true, job: r.job };
      }
      // Another replica started it meanwhile: it is stopped as a running job is.
      if (r.job?.state === 'queued' || r.job?.state === 'terminated') {
        if (r.job.state === 'terminated') return { ok: true, job: r.job };
        throw new Error(`job ${jobId} could not be canceled while queued: ${r.reason}`);
      }
    }
    const r = await this.stopJob(jobId, 'job_canceled', message);
    // The exit status it has (a timeout, a supervisor error) is final: the job is ending already.
    if (!r.ok) return { ok: true, job };
    return { ok: true, job: r.job };
  }

  supervisorLoad(supervisorId: string): SupervisorLoad {
    const session = this.sessions.get(supervisorId);
    const mine = this.assigned.get(supervisorId)?.values().next().value;
    const foreign = session?.foreign.values().next().value;
    return {
      connected: session !== undefined || this.presence.elsewhere(supervisorId),
      jobId: mine ?? foreign ?? null,
      foreign: mine === undefined && foreign !== undefined,
    };
  }

  // -- supervisors --

  supervisorConnected(row: SupervisorRow, link: SupervisorLink): void {
    this.background(`supervisor ${row.name} connecting`, () => this.connected(row, link));
  }

  private async connected(row: SupervisorRow, link: SupervisorLink): Promise<void> {
    if (this.feed) {
      // It may come from another replica: what it runs is in the database.
      for (const active of await this.store.activeJobsOf(row.id))
        if (!this.assigned.get(row.id)?.has(active)) this.assign(row.id, active);
      this.presence.connectedHere(row.id);
      await this.feed.publish({ kind: 'connected', supervisor: row.id });
    }
    const old = this.sessions.get(row.id);
    if (old) old.link.close(CLOSE_CODES.superseded, 'superseded by a newer connection of the same supervisor');
    this.deadlines.clear(`grace:${row.id}`);
    const session: Session = {
      link,
      name: row.name,
      tags: matchTags(row, parseTags(row.tags)),
      statusRequestId: randomUUID(),
      reconciled: false,
      foreign: new Set(),
    };
    this.sessions.set(row.id, session);
    this.log.info(`supervisor ${row.name} (${row.id}) connected`);
    this.requestStatus(session);
    this.tellSessions();
  }

  /** Asks what the supervisor runs; it gets no new job until the answer is reconciled. */
  private requestStatus(session: Session): void {
    session.statusRequestId = randomUUID();
    session.reconciled = false;
    session.link.send({ type: 'status_request', message: { request_id: session.statusRequestId, message: null } });
  }

  supervisorDisconnected(supervisorId: string, link: SupervisorLink): void {
    this.background(`supervisor ${supervisorId} disconnecting`, async () => this.disconnected(supervisorId, link));
  }

  private disconnected(supervisorId: string, link: SupervisorLink): void {
    const session = this.sessions.get(supervisorId);
    if (this.stopped || !session || session.link !== link) return;
    this.sessions.delete(supervisorId);
    this.tellSessions();
    const running = this.assigned.get(supervisorId)?.size ?? 0;
    this.log.info(
      `supervisor ${session.name} (${supervisorId}) disconnected${running ? `; its job is kept for the ${this.config.gracePeriodMs} ms grace period` : ''}`,
    );
    if (running) this.armGrace(supervisorId);
  }

  /** Rejects with StoreUnavailable when the database could not take what the message changes. */
  supervisorMessage(supervisorId: string, link: SupervisorLink, msg: ToSwitchboard): Promise<void> {
    return this.serial(() => this.message(supervisorId, link, msg));
  }

  /**
   * Job events of any supervisors, in the order they arrived, stored in one transaction: all of
   * them or, rejecting with StoreUnavailable, none. (A status_response goes through
   * supervisorMessage: reconciling starts jobs, which must not wait for others' events.)
   */
  supervisorEvents(
    events: Array<{ supervisorId: string; link: SupervisorLink; msg: SupervisorEventMessage }>,
  ): Promise<void> {
    return this.serial(async () => {
      try {
        await this.jobs.batch(async () => {
          for (const e of events) await this.message(e.supervisorId, e.link, e.msg);
          // A supervisor whose job just ended starts its next one in the same transaction.
          if (events.some((e) => this.jobs.terminatedInBatch(e.msg.message.job_id))) await this.dispatch();
        });
      } catch (err) {
        if (err instanceof StoreUnavailable || events.length === 1) throw err;
        // One message that fails for its own reason must not take the others with it.
        this.log.error(`${events.length} supervisor events failed together (${(err as Error).message}); one at a time`);
        for (const e of events) {
          await this.message(e.supervisorId, e.link, e.msg).catch((one: unknown) => {
            if (one instanceof StoreUnavailable) throw one;
            this.log.error(`supervisor event ${e.msg.message.event.type} failed: ${(one as Error).message}`);
          });
        }
      }
    });
  }

  private async message(supervisorId: string, link: SupervisorLink, msg: ToSwitchboard): Promise<void> {
    const session = this.sessions.get(supervisorId);
    if (this.stopped || !session || session.link !== link) return;
    if (msg.type === 'status_response') {
      if (msg.message.response_to_request_id !== session.statusRequestId) {
        this.log.debug(
          `supervisor ${session.name}: ignored status_response to unknown request ${msg.message.response_to_request_id}`,
        );
        return;
      }
      await this.reconcile(supervisorId, session, msg.message.message);
      return;
    }
    await this.jobEvent(supervisorId, session, msg.message.job_id, msg.message.event);
  }

  private async reconcile(supervisorId: string, session: Session, status: SupervisorStatus): Promise<void> {
    session.reconciled = true;
    session.foreign.clear();
    const mine = [...(this.assigned.get(supervisorId) ?? [])];
    const ongoing = status.type === 'ongoing_job' ? status.job_id : null;
    for (const jobId of mine) {
      if (jobId !== ongoing) await this.drop(jobId, `supervisor ${session.name} no longer runs the job`);
    }
    if (status.type === 'ongoing_job') {
      if (mine.includes(status.job_id)) {
        await this.supervisorState(session, status.job_id, status.job_state, null);
      } else {
        this.log.warn(`supervisor ${session.name} runs job ${status.job_id}, which is not running here: stopping it`);
        session.foreign.add(status.job_id);
        session.link.send({ type: 'stop_job', message: { job_id: status.job_id } });
      }
    }
    this.log.info(
      `supervisor ${session.name} reconciled: ${status.type === 'idle' ? 'idle' : `running job ${status.job_id}`}`,
    );
    await this.dispatch();
  }

  private async jobEvent(supervisorId: string, session: Session, jobId: string, event: JobEvent): Promise<void> {
    if (!this.assigned.get(supervisorId)?.has(jobId)) {
      const gone =
        (event.type === 'state_transition' && event.new_state.state === 'terminated') ||
        (event.type === 'error' && event.error.error_kind === 'JobNotFound');
      if (session.foreign.has(jobId) && gone) {
        session.foreign.delete(jobId);
        this.log.info(`supervisor ${session.name} stopped job ${jobId}`);
        this.requestDispatch();
        return;
      }
      // Our own supervisors still report the teardown of a job that ended here on their error.
      const endedHere = (await this.jobs.current(jobId))?.supervisor_id === supervisorId;
      const level = event.type === 'console_log' || session.foreign.has(jobId) || endedHere ? 'debug' : 'warn';
      this.log[level](
        `refused ${event.type} from supervisor ${session.name} for job ${jobId}: the job is not running on it`,
      );
      return;
    }
    switch (event.type) {
      case 'state_transition':
        await this.supervisorState(session, jobId, event.new_state, event.status_message);
        return;
      case 'declare_exit_status':
        await this.supervisorExitStatus(session, jobId, USER_EXIT_STATUS[event.user_exit_status], event.host_output);
        return;
      case 'error':
        await this.supervisorError(session, jobId, event.error);
        return;
      case 'console_log':
        await this.jobs.appendLog(jobId, Buffer.from(event.console_bytes));
        return;
    }
  }

  /**
   * A supervisor could not do what was asked for a job. A job that is still starting ends here and
   * now: upstream supervisors send `error` and then nothing more for it. Either way the supervisor
   * is asked for its status, which ends a job it no longer runs and keeps it from new work while
   * it still tears one down.
   */
  private async supervisorError(session: Session, jobId: string, error: JobError): Promise<void> {
    const message = `${error.error_kind}: ${error.description}`;
    if (errorIsNoFailure(error.error_kind)) {
      this.log.info(`supervisor ${session.name} reports for job ${jobId}: ${message}`);
      return;
    }
    await this.supervisorExitStatus(session, jobId, exitStatusForError(error.error_kind), message);
    this.requestStatus(session);
    const job = await this.jobs.current(jobId);
    if (job?.state !== 'scheduled' && job?.state !== 'initializing') return;
    const r = await this.jobs.apply(jobId, {
      actor: 'switchboard',
      state: { to: 'terminated', statusMessage: `the supervisor could not start the job: ${message}` },
    });
    if (!r.ok) this.log.error(`job ${jobId} could not be ended after its supervisor's error: ${r.reason}`);
  }

  private async supervisorExitStatus(
    session: Session,
    jobId: string,
    to: ExitStatus,
    message: string | null,
  ): Promise<void> {
    const r = await this.jobs.apply(jobId, { actor: 'supervisor', exitStatus: { to, message } });
    if (r.ok) this.log.info(`job ${jobId}: exit status ${to} from supervisor ${session.name}`);
    else this.log.warn(`refused exit status ${to} from supervisor ${session.name} for job ${jobId}: ${r.reason}`);
  }

  private async supervisorState(
    session: Session,
    jobId: string,
    st: RunningJobState,
    message: string | null,
  ): Promise<void> {
    const job = await this.jobs.current(jobId);
    if (!job) return;
    const stage = st.state === 'initializing' ? st.stage : null;
    if (st.state === job.state) {
      if (stage === job.stage && message === null) return;
      const r = await this.jobs.apply(jobId, { actor: 'supervisor', subState: { stage, statusMessage: message } });
      if (r.ok) this.log.debug(`job ${jobId}: ${st.state}${stage ? `/${stage}` : ''}${message ? `: ${message}` : ''}`);
      return;
    }
    const r = await this.jobs.apply(jobId, {
      actor: 'supervisor',
      exitStatus: exitStatusOnSupervisorMove(st.state, job.exit_status),
      state: { to: st.state, stage, statusMessage: message },
    });
    if (r.ok)
      this.log.info(
        `job ${jobId}: ${st.state}${stage ? `/${stage}` : ''} on supervisor ${session.name}${message ? `: ${message}` : ''}`,
      );
    else
      this.log.warn(`refused transition to ${st.state} from supervisor ${session.name} for job ${jobId}: ${r.reason}`);
  }

  // -- dispatch and endings --

  /** Dispatches in a turn of its own (once, however often asked before that turn comes). */
  private requestDispatch(): void {
    if (this.dispatchAsked) return;
    this.dispatchAsked = true;
    this.background('dispatching', async () => {
      this.dispatchAsked = false;
      await this.dispatch();
    });
  }

  private async dispatch(): Promise<void> {
    if (this.queue.size === 0) return;
    const idle: Array<[string, Session]> = [];
    for (const [id, s] of this.sessions) {
      const busy = [...(this.assigned.get(id) ?? [])].some((jobId) => !this.jobs.terminatedInBatch(jobId));
      if (s.reconciled && s.foreign.size === 0 && !busy) idle.push([id, s]);
    }
    if (idle.length === 0) return;
    let passedOver = false;
    for (const [jobId, { tags }] of this.queue) {
      const i = idle.findIndex(([, s]) => tagsMatch(tags, s.tags));
      if (i < 0) continue;
      const [supervisorId, session] = idle[i]!;
      const outcome = await this.startOn(jobId, supervisorId, session);
      // A job another replica started first, or is changing now, leaves the supervisor free for the next one.
      if (outcome === 'locked') passedOver = true;
      else if (outcome !== 'job_gone') idle.splice(i, 1);
      if (idle.length === 0) break;
    }
    // The replica changing a job passed over may leave it queued (its supervisor turned out busy):
    // this one looks again soon rather than when the next job is queued or ends.
    if (passedOver && idle.length > 0) {
      this.deadlines.at('dispatch', this.clock.now() + DISPATCH_AGAIN_MS, () => this.requestDispatch());
    }
  }

  /**
   * `job_gone`: the job was no longer queued; `locked`: another replica is changing it; `busy`: the
   * database has the supervisor running another.
   */
  private async startOn(
    jobId: string,
    supervisorId: string,
    session: Session,
  ): Promise<'started' | 'job_gone' | 'locked' | 'busy'> {
    // Out of the queue only once the store has it scheduled: a failing write leaves it queued.
    const r = await this.jobs.apply(jobId, {
      actor: 'switchboard',
      state: { to: 'scheduled', supervisorId },
      expectState: 'queued',
      idleSupervisor: supervisorId,
      readRequest: true,
    });
    if (!r.ok) {
      this.log.debug(`job ${jobId} not scheduled on supervisor ${session.name}: ${r.reason}`);
      if (r.locked) return 'locked';
      if (r.job?.state !== 'queued') {
        this.removeQueued(jobId);
        this.deadlines.clear(`queue:${jobId}`);
      }
      return r.job?.state === 'queued' ? 'busy' : 'job_gone';
    }
    const request = r.request!;
    // Told once stored; announcing the change has taken the job out of the queue and onto the supervisor.
    this.jobs.afterCommit(() => {
      session.link.send({ type: 'start_job', message: startJobMessage(jobId, request) });
      this.log.info(`job ${jobId} scheduled on supervisor ${session.name}`);
    });
    return 'started';
  }

  /** Sets a switchboard exit status on a dispatched job and asks its supervisor to stop it. */
  private async stopJob(
    jobId: string,
    status: ExitStatus,
    message: string,
  ): Promise<{ ok: true; job: JobRow } | { ok: false; reason: string }> {
    const r = await this.jobs.apply(jobId, { actor: 'switchboard', exitStatus: { to: status, message } });
    if (!r.ok) return { ok: false, reason: r.reason };
    // jobChanged has told the supervisor (or the replica that holds it does).
    this.log.info(`job ${jobId}: ${status} (${message}); stopping it`);
    const supervisorId = r.job.supervisor_id;
    // A supervisor that does not confirm the stop within the grace period loses the job.
    this.deadlines.at(`stop:${jobId}`, this.clock.now() + this.config.gracePeriodMs, () =>
      this.serial(async () => {
        const job = await this.jobs.current(jobId);
        if (!job || job.state === 'terminated') return;
        const s = supervisorId ? this.sessions.get(supervisorId) : undefined;
        // It may still be running the host: keep it busy until it reports the job ended.
        s?.foreign.add(jobId);
        await this.drop(jobId, `supervisor did not stop the job within ${this.config.gracePeriodMs} ms`);
      }),
    );
    return { ok: true, job: r.job };
  }

  /** Ends a job the switchboard can no longer see running: Terminated, SupervisorDroppedJob unless already final. */
  private async drop(jobId: string, why: string): Promise<void> {
    let r = await this.jobs.apply(jobId, {
      actor: 'switchboard',
      exitStatus: { to: 'supervisor_dropped_job', message: why },
      state: { to: 'terminated', statusMessage: why },
    });
    // Another replica may have ended it first.
    if (!r.ok && r.job?.state === 'terminated') return;
    if (!r.ok)
      r = await this.jobs.apply(jobId, { actor: 'switchboard', state: { to: 'terminated', statusMessage: why } });
    if (r.ok) this.log.warn(`job ${jobId} terminated (${r.job.exit_status}): ${why}`);
    else this.log.error(`job ${jobId} could not be dropped: ${r.reason}`);
  }

  /** A job as last committed, here or by another replica: the queue and who runs what follow it. */
  private jobChanged(job: JobRow): void {
    if (job.state === 'queued') {
      // Queued by another replica.
      if (this.queue.has(job.id)) return;
      this.addQueued(job.id, { tags: parseTags(job.tag_config), owner: job.owner_id, bytes: 0 });
      this.armQueueTimeout(job);
      this.requestDispatch();
      return;
    }
    if (this.queue.has(job.id)) {
      this.removeQueued(job.id);
      this.deadlines.clear(`queue:${job.id}`);
    }
    if (job.state !== 'terminated') {
      if (job.supervisor_id === null) return;
      if (!this.assigned.get(job.supervisor_id)?.has(job.id)) {
        // Started by another replica.
        this.assign(job.supervisor_id, job.id);
        this.armJobTimeout(job);
      }
      this.stopIfAsked(job);
      return;
    }
    this.stopsSent.delete(job.id);
    for (const key of [`queue:${job.id}`, `job:${job.id}`, `stop:${job.id}`]) this.deadlines.clear(key);
    if (job.supervisor_id) {
      const set = this.assigned.get(job.supervisor_id);
      set?.delete(job.id);
      if (set && set.size === 0) {
        this.assigned.delete(job.supervisor_id);
        this.deadlines.clear(`grace:${job.supervisor_id}`);
      }
      this.log.info(`job ${job.id} terminated: ${job.exit_status}`);
      this.requestDispatch();
    }
  }

  /**
   * A job the switchboard ends (canceled, timed out) is stopped by its supervisor: the replica
   * that holds the supervisor tells it, whichever replica decided.
   */
  private stopIfAsked(job: JobRow): void {
    if (job.exit_status !== 'job_canceled' && job.exit_status !== 'job_timeout') return;
    const session = job.supervisor_id ? this.sessions.get(job.supervisor_id) : undefined;
    if (!session || this.stopsSent.has(job.id)) return;
    this.stopsSent.add(job.id);
    session.link.send({ type: 'stop_job', message: { job_id: job.id } });
  }

  private addQueued(id: string, job: QueuedJob): void {
    this.queue.set(id, job);
    const used = this.usage.get(job.owner) ?? { jobs: 0, bytes: 0 };
    this.usage.set(job.owner, { jobs: used.jobs + 1, bytes: used.bytes + job.bytes });
  }

  private removeQueued(id: string): void {
    const job = this.queue.get(id);
    if (!job) return;
    this.queue.delete(id);
    const used = this.usage.get(job.owner)!;
    if (used.jobs === 1) this.usage.delete(job.owner);
    else this.usage.set(job.owner, { jobs: used.jobs - 1, bytes: used.bytes - job.bytes });
  }

  private assign(supervisorId: string, jobId: string): void {
    let set = this.assigned.get(supervisorId);
    if (!set) this.assigned.set(supervisorId, (set = new Set()));
    set.add(jobId);
  }

  private armQueueTimeout(job: JobRow): void {
    this.deadlines.at(`queue:${job.id}`, job.queued_at + this.config.queueTimeoutMs, () =>
      this.serial(async () => {
        if ((await this.jobs.current(job.id))?.state !== 'queued') return;
        const r = await this.jobs.apply(job.id, {
          actor: 'switchboard',
          exitStatus: {
            to: 'queue_timeout',
            message: `no matching supervisor became free within ${this.config.queueTimeoutMs} ms`,
          },
          state: { to: 'terminated' },
        });
        if (r.ok) this.log.info(`job ${job.id}: queue_timeout`);
      }),
    );
  }

  private armJobTimeout(job: JobRow): void {
    const timeoutMs = job.override_timeout !== null ? job.override_timeout * 1000 : this.config.jobTimeoutMs;
    this.deadlines.at(`job:${job.id}`, (job.scheduled_at ?? this.clock.now()) + timeoutMs, () =>
      this.serial(async () => {
        const now = await this.jobs.current(job.id);
        if (!now || now.state === 'terminated' || now.state === 'queued') return;
        const r = await this.stopJob(job.id, 'job_timeout', `job exceeded its timeout of ${timeoutMs} ms`);
        if (!r.ok) this.log.info(`job ${job.id} timed out but keeps its exit status: ${r.reason}`);
      }),
    );
  }

  private armGrace(supervisorId: string): void {
    this.deadlines.at(`grace:${supervisorId}`, this.clock.now() + this.config.gracePeriodMs, () =>
      this.serial(async () => {
        if (this.sessions.has(supervisorId) || this.presence.elsewhere(supervisorId)) return;
        for (const jobId of [...(this.assigned.get(supervisorId) ?? [])]) {
          await this.drop(jobId, `supervisor stayed away longer than the ${this.config.gracePeriodMs} ms grace period`);
        }
      }),
    );
  }
}
