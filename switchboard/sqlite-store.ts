// The switchboard store over SQLite (better-sqlite3): Kysely compiles the queries of queries.ts and
// the steps of migrations.ts, and this module runs them synchronously on one connection, each
// distinct SQL text prepared once.

import Database from 'better-sqlite3';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import {
  DummyDriver,
  Kysely,
  SqliteAdapter,
  SqliteIntrospector,
  SqliteQueryCompiler,
  type CompiledQuery,
  type Compilable,
} from 'kysely';
import { MIGRATIONS, SQLITE_MIGRATIONS } from './migrations.js';
import { queries as q } from './queries.js';
import type { JobEventRow, JobRow, StoredJobRequest, SupervisorRow, Tables, UserRow } from './schema.js';
import {
  StoreConflict,
  StoreOpenError,
  StoreUnavailable,
  type ActiveJobRow,
  type ConsoleTimeRow,
  type JobPageQuery,
  type JobUpdate,
  type ListedJobRow,
  type ListedJobsQuery,
  type LogChunk,
  type NewJobEvent,
  type SessionOwner,
  type SwitchboardStore,
  type TokenInfo,
  type UserTokenInfo,
  type TokenOwner,
} from './store.js';

export interface SqliteStoreOptions {
  /** Checkpoint the WAL from a worker thread every this many ms instead of inside commits. */
  backgroundCheckpointMs?: number;
  onWarning?: (message: string) => void;
}

/** Builds and compiles only; this module executes. */
const builder = new Kysely<Tables>({
  dialect: {
    createAdapter: () => new SqliteAdapter(),
    createDriver: () => new DummyDriver(),
    createIntrospector: (db) => new SqliteIntrospector(db),
    createQueryCompiler: () => new SqliteQueryCompiler(),
  },
});

// SQLite's result codes for a database that cannot be used now, whatever was asked of it.
const UNAVAILABLE = /^SQLITE_(?:FULL|IOERR|READONLY|BUSY|LOCKED|CANTOPEN|NOMEM)/;

/** Runs `fn`; an I/O failure of SQLite becomes StoreUnavailable, anything else passes through. */
function unavailableOnIo<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof StoreUnavailable) throw err;
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string' && UNAVAILABLE.test(code)) {
      throw new StoreUnavailable(
        code.startsWith('SQLITE_FULL') ? 'full' : 'unavailable',
        `database: ${(err as Error).message} (${code})`,
      );
    }
    throw err;
  }
}

export class SqliteStore implements SwitchboardStore {
  /** The connection, for the web console's own tables (web/adapter.ts) and storage-level tests. */
  readonly sql: Database.Database;
  private readonly prepared = new Map<string, Database.Statement>();
  private checkpointer: Worker | null = null;

  /** `path` is a file, or `:memory:` for a database that lives as long as the store. */
  constructor(path: string, opts: SqliteStoreOptions = {}) {
    try {
      this.sql = new Database(path);
    } catch (err) {
      throw new StoreOpenError(`cannot open database ${path}: ${(err as Error).message}`);
    }
    // WAL with synchronous=NORMAL: a committed transaction is in the WAL file before the call
    // returns, so it survives the process being killed (kill -9); only an OS crash or power loss
    // can lose the last transactions.
    this.sql.pragma('journal_mode = WAL');
    this.sql.pragma('synchronous = NORMAL');
    this.sql.pragma('foreign_keys = ON');
    this.sql.pragma('busy_timeout = 5000');
    this.migrate();
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
  }

  private migrate(): void {
    const current = this.sql.pragma('user_version', { simple: true }) as number;
    if (current > MIGRATIONS.length) {
      throw new StoreOpenError(
        `database schema version ${current} is newer than this switchboard knows (${MIGRATIONS.length})`,
      );
    }
    for (let v = current; v < MIGRATIONS.length; v++) {
      this.transaction(() => {
        for (const c of MIGRATIONS[v]!(builder, SQLITE_MIGRATIONS)) this.exec(c);
        this.sql.pragma(`user_version = ${v + 1}`);
      });
    }
  }

  private statement(c: CompiledQuery): Database.Statement {
    let s = this.prepared.get(c.sql);
    if (!s) this.prepared.set(c.sql, (s = this.sql.prepare(c.sql)));
    return s;
  }

  private exec(c: CompiledQuery): number {
    return unavailableOnIo(() => this.statement(c).run(...c.parameters).changes);
  }

  private run(query: Compilable): number {
    return this.exec(query.compile());
  }

  private all<R>(query: Compilable<R>): R[] {
    const c = query.compile();
    return unavailableOnIo(() => this.statement(c).all(...c.parameters) as R[]);
  }

  private first<R>(query: Compilable<R>): R | undefined {
    const c = query.compile();
    return unavailableOnIo(() => this.statement(c).get(...c.parameters) as R | undefined);
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
    return unavailableOnIo(() => this.sql.transaction(fn)());
  }

  ping(): void {
    unavailableOnIo(() => this.sql.prepare('SELECT 1').get());
  }

  // -- users and tokens --

  addUser(name: string, passwordHash: string | null, isAdmin: boolean, email: string | null = null): UserRow {
    if (this.userByIdentifier(name)) throw new StoreConflict(`user "${name}" already exists`);
    if (email !== null && this.userByIdentifier(email)) {
      throw new StoreConflict(`the e-mail address "${email}" is already taken`);
    }
    const row: UserRow = {
      id: randomUUID(),
      name,
      email,
      password_hash: passwordHash,
      is_admin: isAdmin ? 1 : 0,
      created_at: Date.now(),
      locked_at: null,
    };
    this.run(q.insertUser(builder, row));
    return row;
  }

  userByName(name: string): UserRow | undefined {
    return this.first(q.userByName(builder, name));
  }

  userByIdentifier(identifier: string): UserRow | undefined {
    return this.userByName(identifier) ?? this.first(q.userByEmail(builder, identifier));
  }

  userById(id: string): UserRow | undefined {
    return this.first(q.userById(builder, id));
  }

  users(): UserRow[] {
    return this.all(q.users(builder));
  }

  removeUser(id: string): 'removed' | 'has_jobs' | 'not_found' {
    return this.transaction(() => {
      if (!this.userById(id)) return 'not_found';
      if (this.first(q.jobsOfOwner(builder, id))) return 'has_jobs';
      this.run(q.deleteUser(builder, id));
      return 'removed';
    });
  }

  setUserLocked(id: string, at: number | null): void {
    this.run(q.setUserLocked(builder, id, at));
  }

  tokens(): TokenInfo[] {
    return this.all(q.tokens(builder));
  }

  removeToken(hash: Buffer): boolean {
    return this.run(q.deleteToken(builder, hash)) > 0;
  }

  addToken(hash: Buffer, userId: string, expiresAt: number | null): number {
    const createdAt = Date.now();
    this.run(
      q.insertToken(builder, { token_hash: hash, user_id: userId, created_at: createdAt, expires_at: expiresAt }),
    );
    return createdAt;
  }

  userTokens(userId: string, now: number, limit: number): UserTokenInfo[] {
    return this.all(q.userTokens(builder, userId, now, limit));
  }

  removeUserToken(userId: string, hash: Buffer): boolean {
    return this.run(q.deleteUserToken(builder, userId, hash)) > 0;
  }

  tokenByHash(hash: Buffer): TokenOwner | undefined {
    return this.first(q.tokenByHash(builder, hash));
  }

  pruneExpiredTokens(now = Date.now()): number {
    return this.run(q.pruneTokens(builder, now));
  }

  // -- supervisors --

  supervisorLastSeen(id: string): number | null {
    return this.first(q.supervisorLastSeen(builder, id))?.at ?? null;
  }

  addSupervisor(name: string, tags: string, tokenHash: Buffer, id: string = randomUUID()): SupervisorRow {
    if (this.first(q.supervisorByName(builder, name))) throw new StoreConflict(`supervisor "${name}" already exists`);
    if (this.supervisorById(id)) throw new StoreConflict(`a supervisor with id ${id} already exists`);
    const row: SupervisorRow = { id, name, tags, token_hash: tokenHash, created_at: Date.now() };
    this.run(q.insertSupervisor(builder, row));
    return row;
  }

  supervisors(): SupervisorRow[] {
    return this.all(q.supervisors(builder));
  }

  supervisorById(id: string): SupervisorRow | undefined {
    return this.first(q.supervisorById(builder, id));
  }

  removeSupervisor(id: string): 'removed' | 'has_active_jobs' | 'not_found' {
    return this.transaction(() => {
      if (!this.supervisorById(id)) return 'not_found';
      if (this.first(q.activeJobOn(builder, id))) return 'has_active_jobs';
      this.run(q.forgetSupervisor(builder, id));
      this.run(q.deleteSupervisor(builder, id));
      return 'removed';
    });
  }

  setSupervisorTags(id: string, tags: string): void {
    this.run(q.setSupervisorTags(builder, id, tags));
  }

  // -- jobs --

  insertJob(id: string, ownerId: string, request: StoredJobRequest, now: number): void {
    this.run(
      q.insertJob(builder, {
        id,
        owner_id: ownerId,
        request: JSON.stringify(request),
        tag_config: request.tag_config,
        state: 'queued',
        stage: null,
        status_message: null,
        exit_status: null,
        exit_message: null,
        supervisor_id: null,
        queued_at: now,
        scheduled_at: null,
        updated_at: now,
        terminated_at: null,
        init_spec: JSON.stringify(request.init_spec),
        restart_of: request.restart_of ?? null,
        override_timeout: request.override_timeout,
      }),
    );
  }

  job(id: string): JobRow | undefined {
    return this.first(q.jobById(builder, id));
  }

  jobRequest(id: string): StoredJobRequest | undefined {
    const row = this.first(q.jobRequest(builder, id));
    return row && (JSON.parse(row.request) as StoredJobRequest);
  }

  activeJobs(): ActiveJobRow[] {
    return this.all(q.activeJobs(builder));
  }

  jobPage(query: JobPageQuery): JobRow[] {
    return this.all(q.jobPage(builder, query));
  }

  listedJobs(query: ListedJobsQuery): ListedJobRow[] {
    return this.all(q.listedJobs(builder, query));
  }

  updateJob(update: JobUpdate): void {
    this.run(q.updateJob(builder, update));
  }

  insertEvent(e: NewJobEvent): void {
    this.run(q.insertEvent(builder, e));
  }

  events(jobId: string, after = 0, limit = Number.MAX_SAFE_INTEGER): JobEventRow[] {
    return this.all(q.events(builder, jobId, after, limit));
  }

  eventCount(jobId: string): number {
    return this.first(q.eventCount(builder, jobId))?.n ?? 0;
  }

  // -- console log --

  appendLog(
    jobId: string,
    logStart: number,
    logEnd: number,
    data: Buffer,
    keep: number,
  ): { start: number; end: number } {
    return this.transaction(() => {
      this.run(q.insertLog(builder, jobId, logEnd, data));
      const end = logEnd + data.length;
      let start = logStart;
      if (end - start > keep) {
        this.run(q.pruneLog(builder, jobId, end - keep));
        start = this.first(q.firstLogOffset(builder, jobId))?.o ?? end;
      }
      this.run(q.setLogBounds(builder, jobId, start, end));
      return { start, end };
    });
  }

  readLog(jobId: string, offset: number, maxChunks: number): LogChunk[] {
    return this.all(q.readLog(builder, jobId, offset, maxChunks));
  }

  lastLogOffset(jobId: string): number | undefined {
    return this.first(q.lastLogOffset(builder, jobId))?.o ?? undefined;
  }

  // -- the web console --

  addSession(hash: Buffer, userId: string, now: number, expiresAt: number): void {
    this.transaction(() => {
      this.run(q.pruneSessions(builder, now));
      this.run(q.insertSession(builder, { token_hash: hash, user_id: userId, created_at: now, expires_at: expiresAt }));
    });
  }

  session(hash: Buffer): SessionOwner | undefined {
    return this.first(q.session(builder, hash));
  }

  removeSession(hash: Buffer): void {
    this.run(q.deleteSession(builder, hash));
  }

  putConsoleTime(jobId: string, offset: number, at: number, start: number): void {
    this.transaction(() => {
      this.run(q.putConsoleTime(builder, { job_id: jobId, offset, at }));
      if (start > 0) this.run(q.pruneConsoleTimes(builder, jobId, start));
    });
  }

  consoleTimes(jobId: string, from: number, to: number, limit: number): ConsoleTimeRow[] {
    return this.all(q.consoleTimes(builder, jobId, from, to, limit));
  }
}
