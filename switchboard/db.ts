// The switchboard's SQLite database: connection settings and typed queries. Lifecycle rules live
// in lifecycle.ts and jobs.ts; this module only reads and writes rows.

import Database from 'better-sqlite3';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import type { ExecutionState, ExitStatus, ImageSpec, InitStage, JobRequest } from '../protocol/job.js';
import type { JobEventKind } from '../protocol/switchboard-api.js';
import { migrate } from './migrations.js';

export interface UserRow {
  id: string;
  name: string;
  email: string | null;
  password_hash: string | null;
  is_admin: number;
  created_at: number;
}

export interface SupervisorRow {
  id: string;
  name: string;
  tags: string;
  token_hash: Buffer;
  created_at: number;
}

/**
 * A job's request as stored (the `request` column, JSON): a `restart_job` request is resolved to
 * the earlier job's image spec, and `restart_of` names that job.
 */
export interface StoredJobRequest extends Omit<JobRequest, 'init_spec'> {
  init_spec: ImageSpec;
  restart_of?: string;
}

export interface JobRow {
  seq: number;
  id: string;
  owner_id: string;
  request: string;
  tag_config: string;
  state: ExecutionState;
  stage: InitStage | null;
  status_message: string | null;
  exit_status: ExitStatus | null;
  exit_message: string | null;
  supervisor_id: string | null;
  queued_at: number;
  scheduled_at: number | null;
  updated_at: number;
  terminated_at: number | null;
  log_start: number;
  log_end: number;
}

export interface JobEventRow {
  seq: number;
  job_id: string;
  at: number;
  kind: JobEventKind;
  by: 'switchboard' | 'supervisor';
  state: ExecutionState;
  stage: InitStage | null;
  status_message: string | null;
  exit_status: ExitStatus | null;
}

export class DbError extends Error {
  override name = 'DbError';
}

export interface DbOptions {
  /** Checkpoint the WAL from a worker thread every this many ms instead of inside commits. */
  backgroundCheckpointMs?: number;
  onWarning?: (message: string) => void;
}

export class SwitchboardDb {
  readonly sql: Database.Database;
  private readonly stmt;
  private checkpointer: Worker | null = null;

  constructor(path: string, opts: DbOptions = {}) {
    try {
      this.sql = new Database(path);
    } catch (err) {
      throw new DbError(`cannot open database ${path}: ${(err as Error).message}`);
    }
    // WAL with synchronous=NORMAL: a committed transaction is in the WAL file before the call
    // returns, so it survives the process being killed (kill -9); only an OS crash or power loss
    // can lose the last transactions.
    this.sql.pragma('journal_mode = WAL');
    this.sql.pragma('synchronous = NORMAL');
    this.sql.pragma('foreign_keys = ON');
    this.sql.pragma('busy_timeout = 5000');
    migrate(this.sql);
    if (opts.backgroundCheckpointMs) {
      // A checkpoint fsyncs the database file; inside a commit that stalls every request for
      // tens of milliseconds, so a serving switchboard leaves checkpoints to a worker thread.
      this.sql.pragma('wal_autocheckpoint = 0');
      this.checkpointer = new Worker(new URL('./checkpoint-worker.js', import.meta.url), {
        // 16384 frames of 4 KiB pages: the WAL stays around 64 MiB at most.
        workerData: { path, intervalMs: opts.backgroundCheckpointMs, restartFrames: 16384 },
      });
      this.checkpointer.on('message', (m: string) => opts.onWarning?.(m));
      this.checkpointer.on('error', (err) => opts.onWarning?.(`checkpoint worker failed: ${err.message}`));
      this.checkpointer.unref();
    }
    const s = this.sql;
    this.stmt = {
      insertUser: s.prepare(
        'INSERT INTO users (id, name, email, password_hash, is_admin, created_at) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      userByName: s.prepare('SELECT * FROM users WHERE name = ?'),
      userByEmail: s.prepare('SELECT * FROM users WHERE email = ?'),
      userById: s.prepare('SELECT * FROM users WHERE id = ?'),
      insertToken: s.prepare(
        'INSERT INTO api_tokens (token_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)',
      ),
      tokenByHash: s.prepare(
        'SELECT t.token_hash, t.expires_at, u.* FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = ?',
      ),
      pruneTokens: s.prepare('DELETE FROM api_tokens WHERE expires_at IS NOT NULL AND expires_at <= ?'),
      insertSupervisor: s.prepare(
        'INSERT INTO supervisors (id, name, tags, token_hash, created_at) VALUES (?, ?, ?, ?, ?)',
      ),
      supervisors: s.prepare('SELECT * FROM supervisors ORDER BY name'),
      supervisorById: s.prepare('SELECT * FROM supervisors WHERE id = ?'),
      insertJob: s.prepare(
        `INSERT INTO jobs (id, owner_id, request, tag_config, state, queued_at, updated_at)
         VALUES (@id, @owner_id, @request, @tag_config, 'queued', @now, @now)`,
      ),
      jobById: s.prepare('SELECT * FROM jobs WHERE id = ?'),
      jobsActive: s.prepare("SELECT * FROM jobs WHERE state <> 'terminated' ORDER BY seq"),
      jobsAll: s.prepare('SELECT * FROM jobs ORDER BY seq DESC LIMIT ?'),
      jobsOfOwner: s.prepare('SELECT * FROM jobs WHERE owner_id = ? ORDER BY seq DESC LIMIT ?'),
      updateJob: s.prepare(
        `UPDATE jobs SET state = @state, stage = @stage, status_message = @status_message, exit_status = @exit_status,
           exit_message = @exit_message, supervisor_id = @supervisor_id, scheduled_at = @scheduled_at,
           updated_at = @updated_at, terminated_at = @terminated_at WHERE id = @id`,
      ),
      insertEvent: s.prepare(
        `INSERT INTO job_events (job_id, at, kind, by, state, stage, status_message, exit_status)
         VALUES (@job_id, @at, @kind, @by, @state, @stage, @status_message, @exit_status)`,
      ),
      eventsOf: s.prepare('SELECT * FROM job_events WHERE job_id = ? ORDER BY seq'),
      insertLog: s.prepare('INSERT INTO job_log (job_id, offset, data) VALUES (?, ?, ?)'),
      setLogBounds: s.prepare('UPDATE jobs SET log_start = ?, log_end = ? WHERE id = ?'),
      // Chunks are contiguous, so "the chunk holding byte N" is the last one starting at or before
      // N; both queries below find it through the primary key instead of scanning the job's log.
      pruneLog: s.prepare(
        'DELETE FROM job_log WHERE job_id = @job AND offset < (SELECT MAX(offset) FROM job_log WHERE job_id = @job AND offset <= @cutoff)',
      ),
      firstLogOffset: s.prepare('SELECT MIN(offset) AS o FROM job_log WHERE job_id = ?'),
      readLog: s.prepare(
        `SELECT offset, data FROM job_log WHERE job_id = @job
           AND offset >= COALESCE((SELECT MAX(offset) FROM job_log WHERE job_id = @job AND offset <= @pos), 0)
           AND offset + length(data) > @pos
         ORDER BY offset LIMIT @limit`,
      ),
    };
  }

  /** Stops the checkpoint worker, then closes (the last connection's close checkpoints the WAL). */
  async close(): Promise<void> {
    if (this.checkpointer) {
      const exited = once(this.checkpointer, 'exit');
      // Keep the process alive until the worker has closed its connection.
      this.checkpointer.ref();
      this.checkpointer.postMessage('stop');
      await exited;
      this.checkpointer = null;
    }
    this.sql.close();
  }

  transaction<T>(fn: () => T): T {
    return this.sql.transaction(fn)();
  }

  // -- users and tokens --

  /** Names and e-mail addresses share one space, so a login identifier names one user. */
  addUser(name: string, passwordHash: string | null, isAdmin: boolean, email: string | null = null): UserRow {
    if (this.userByIdentifier(name)) throw new DbError(`user "${name}" already exists`);
    if (email !== null && this.userByIdentifier(email)) {
      throw new DbError(`the e-mail address "${email}" is already taken`);
    }
    const row: UserRow = {
      id: randomUUID(),
      name,
      email,
      password_hash: passwordHash,
      is_admin: isAdmin ? 1 : 0,
      created_at: Date.now(),
    };
    this.stmt.insertUser.run(row.id, row.name, row.email, row.password_hash, row.is_admin, row.created_at);
    return row;
  }

  userByName(name: string): UserRow | undefined {
    return this.stmt.userByName.get(name) as UserRow | undefined;
  }

  /** The user with this name, else the one with this e-mail address (case-insensitive). */
  userByIdentifier(identifier: string): UserRow | undefined {
    return this.userByName(identifier) ?? (this.stmt.userByEmail.get(identifier) as UserRow | undefined);
  }

  userById(id: string): UserRow | undefined {
    return this.stmt.userById.get(id) as UserRow | undefined;
  }

  addToken(hash: Buffer, userId: string, expiresAt: number | null): void {
    this.stmt.insertToken.run(hash, userId, Date.now(), expiresAt);
  }

  tokenByHash(hash: Buffer): (UserRow & { token_hash: Buffer; expires_at: number | null }) | undefined {
    return this.stmt.tokenByHash.get(hash) as (UserRow & { token_hash: Buffer; expires_at: number | null }) | undefined;
  }

  /** Deletes expired tokens; returns how many. */
  pruneExpiredTokens(now = Date.now()): number {
    return this.stmt.pruneTokens.run(now).changes;
  }

  // -- supervisors --

  /** `id` is given when the supervisor already has one (upstream supervisors carry it in their config). */
  addSupervisor(name: string, tags: string, tokenHash: Buffer, id: string = randomUUID()): SupervisorRow {
    if (this.supervisors().some((s) => s.name === name)) throw new DbError(`supervisor "${name}" already exists`);
    if (this.supervisorById(id)) throw new DbError(`a supervisor with id ${id} already exists`);
    const row: SupervisorRow = { id, name, tags, token_hash: tokenHash, created_at: Date.now() };
    this.stmt.insertSupervisor.run(row.id, row.name, row.tags, row.token_hash, row.created_at);
    return row;
  }

  supervisors(): SupervisorRow[] {
    return this.stmt.supervisors.all() as SupervisorRow[];
  }

  supervisorById(id: string): SupervisorRow | undefined {
    return this.stmt.supervisorById.get(id) as SupervisorRow | undefined;
  }

  // -- jobs --

  insertJob(id: string, ownerId: string, request: StoredJobRequest, now: number): void {
    this.stmt.insertJob.run({
      id,
      owner_id: ownerId,
      request: JSON.stringify(request),
      tag_config: request.tag_config,
      now,
    });
  }

  job(id: string): JobRow | undefined {
    return this.stmt.jobById.get(id) as JobRow | undefined;
  }

  activeJobs(): JobRow[] {
    return this.stmt.jobsActive.all() as JobRow[];
  }

  jobs(ownerId: string | null, limit: number): JobRow[] {
    return (ownerId === null ? this.stmt.jobsAll.all(limit) : this.stmt.jobsOfOwner.all(ownerId, limit)) as JobRow[];
  }

  updateJob(row: JobRow): void {
    this.stmt.updateJob.run({
      id: row.id,
      state: row.state,
      stage: row.stage,
      status_message: row.status_message,
      exit_status: row.exit_status,
      exit_message: row.exit_message,
      supervisor_id: row.supervisor_id,
      scheduled_at: row.scheduled_at,
      updated_at: row.updated_at,
      terminated_at: row.terminated_at,
    });
  }

  insertEvent(e: Omit<JobEventRow, 'seq'>): void {
    this.stmt.insertEvent.run(e);
  }

  events(jobId: string): JobEventRow[] {
    return this.stmt.eventsOf.all(jobId) as JobEventRow[];
  }

  // -- console log: chunks keyed by absolute byte offset; only the newest `keep` bytes are kept --

  appendLog(
    jobId: string,
    logStart: number,
    logEnd: number,
    data: Buffer,
    keep: number,
  ): { start: number; end: number } {
    this.stmt.insertLog.run(jobId, logEnd, data);
    const end = logEnd + data.length;
    let start = logStart;
    if (end - start > keep) {
      this.stmt.pruneLog.run({ job: jobId, cutoff: end - keep });
      start = (this.stmt.firstLogOffset.get(jobId) as { o: number | null }).o ?? end;
    }
    this.stmt.setLogBounds.run(start, end, jobId);
    return { start, end };
  }

  /** Up to `maxChunks` stored chunks that hold bytes at or after `offset`. */
  readLog(jobId: string, offset: number, maxChunks: number): Array<{ offset: number; data: Buffer }> {
    return this.stmt.readLog.all({ job: jobId, pos: offset, limit: maxChunks }) as Array<{
      offset: number;
      data: Buffer;
    }>;
  }
}
