// The switchboard store over any database Kysely drives: the queries of queries.ts and the steps
// of migrations.ts, run the same way on SQLite and PostgreSQL. What an engine does its own way
// (the schema version, migration locks, which errors mean "unavailable") is its StoreDialect.

import { randomUUID } from 'node:crypto';
import type { Compilable, CompiledQuery, Kysely, Transaction } from 'kysely';
import { MIGRATIONS } from './migrations.js';
import { JOBS_PER_INSERT, insertEventsQuery, insertJobsQuery, precompiled, updateJobQuery } from './precompiled.js';
import { queries as q } from './queries.js';
import type { JobEventRow, JobRow, StoredJobRequest, SupervisorRow, Tables, UserRow } from './schema.js';
import type { StoreDialect } from './store-dialect.js';
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
  type NewJob,
  type NewJobEvent,
  type SessionOwner,
  type SwitchboardStore,
  type TokenInfo,
  type TokenOwner,
  type UserTokenInfo,
} from './store.js';

type Db = Kysely<Tables>;

/** Events one INSERT stores at most: 8 parameters each stays far below either engine's limit. */
const EVENTS_PER_INSERT = 500;

/** Parameters that held writes take at most, together: well within PostgreSQL's 65535 a statement. */
const MAX_HELD_PARAMETERS = 20_000;

/** A write held back to go out with the others (see DbStore.held), and the rows it touches. */
interface HeldWrite {
  query: CompiledQuery;
  /** Names the rows: two writes of one key never go out together. */
  key: string;
}

/**
 * The query with every NUL character in its text parameters as U+FFFD: PostgreSQL refuses NUL in
 * text, and the same text must read back the same from either engine. (Requests are stored as
 * JSON, which spells a NUL as an escape.)
 */
function textSafe<R>(c: CompiledQuery<R>): CompiledQuery<R> {
  if (!c.parameters.some((p) => typeof p === 'string' && p.includes('\0'))) return c;
  return { ...c, parameters: c.parameters.map((p) => (typeof p === 'string' ? p.replaceAll('\0', '\uFFFD') : p)) };
}

/** A queued job's row as inserted. */
function newJobRow({ id, ownerId, request }: NewJob, now: number) {
  return {
    id,
    owner_id: ownerId,
    tag_config: request.tag_config,
    state: 'queued' as const,
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
    request: JSON.stringify(request),
  };
}

export class DbStore implements SwitchboardStore {
  /**
   * Writes of this transaction not sent yet, on an engine that makes several in one statement:
   * they go out together before the next read, before a write of a row one of them touches, and
   * before the commit. Their results are not needed, and what would refuse them (a key taken)
   * fails the transaction then as it would have where they were made: the transaction does the
   * same in fewer round trips.
   */
  private readonly held: HeldWrite[] = [];
  private heldParameters = 0;

  protected constructor(
    /** The database, or the transaction this store's calls run in. */
    protected readonly db: Db,
    protected readonly dialect: StoreDialect,
  ) {}

  /** The database itself, for tools that copy whole tables (migrate-db) and storage-level tests. */
  get kysely(): Db {
    return this.db;
  }

  /** A store over `db`, its schema brought up to date first (one store at a time migrates). */
  static async connect(db: Db, dialect: StoreDialect): Promise<DbStore> {
    const store = new DbStore(db, dialect);
    await store.migrate();
    return store;
  }

  /** Each step in a transaction of its own, under the dialect's lock: replicas starting together migrate once. */
  protected async migrate(): Promise<void> {
    for (;;) {
      const done = await this.io(() =>
        this.db.transaction().execute(async (trx) => {
          await this.dialect.lockForMigration(trx);
          const v = await this.dialect.readVersion(trx);
          if (v > MIGRATIONS.length) {
            throw new StoreOpenError(
              `database schema version ${v} is newer than this switchboard knows (${MIGRATIONS.length})`,
            );
          }
          if (v === MIGRATIONS.length) return true;
          for (const c of MIGRATIONS[v]!(trx, this.dialect.migrations)) await trx.executeQuery(c);
          await this.dialect.writeVersion(trx, v + 1);
          return false;
        }),
      );
      if (done) return;
    }
  }

  /** Runs `fn`; a driver error that says the database cannot be used now becomes StoreUnavailable. */
  private async io<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof StoreUnavailable || err instanceof StoreConflict || err instanceof StoreOpenError) throw err;
      const kind = this.dialect.unavailableKind(err);
      if (kind) {
        const code = (err as { code?: unknown }).code;
        const named = typeof code === 'string' ? ` (${code})` : '';
        throw new StoreUnavailable(kind, `database: ${(err as Error).message}${named}`);
      }
      throw err;
    }
  }

  private execute<R>(c: CompiledQuery<R>) {
    return this.io(() => this.db.executeQuery(c));
  }

  private async run(query: Compilable): Promise<number> {
    await this.flush();
    const r = await this.execute(textSafe(query.compile()));
    return Number(r.numAffectedRows ?? 0n);
  }

  /**
   * The rows `query` reads. Held writes go out first, unless `key` names what it reads and no held
   * write is of that key: a job's row read while the writes of other rows wait.
   */
  private async all<R>(query: Compilable<R>, key?: string): Promise<R[]> {
    if (key === undefined || this.held.some((h) => h.key === key)) await this.flush();
    return (await this.execute(textSafe(query.compile()))).rows;
  }

  /** Makes a write whose result is not needed: held back (see `held`) where the engine combines writes. */
  private async write(query: Compilable | CompiledQuery, key: string): Promise<void> {
    const combiner = this.dialect.writeCombiner;
    const c = textSafe('compile' in query ? query.compile() : query);
    if (!combiner || !this.db.isTransaction || !combiner.combinable(c)) {
      await this.flush();
      await this.execute(c);
      return;
    }
    if (this.held.some((h) => h.key === key) || this.heldParameters + c.parameters.length > MAX_HELD_PARAMETERS)
      await this.flush();
    this.held.push({ query: c, key });
    this.heldParameters += c.parameters.length;
  }

  /** Sends the held writes, in one statement. */
  private async flush(): Promise<void> {
    if (this.held.length === 0) return;
    const writes = this.held.splice(0).map((h) => h.query);
    this.heldParameters = 0;
    await this.execute(writes.length === 1 ? writes[0]! : this.dialect.writeCombiner!.combine(writes));
  }

  private async first<R>(query: Compilable<R>, key?: string): Promise<R | undefined> {
    return (await this.all(query, key))[0];
  }

  /**
   * Inserts a row, giving what the query returns; a unique key already taken (by a writer that
   * raced this one) is a StoreConflict.
   */
  private async insert<R>(query: Compilable<R>, conflict: string): Promise<R | undefined> {
    return (await this.insertAll(query, conflict))[0];
  }

  /** As insert, for a query that inserts several rows. */
  private async insertAll<R>(query: Compilable<R>, conflict: string): Promise<R[]> {
    try {
      return await this.all(query);
    } catch (err) {
      if (this.dialect.isConflict(err)) throw new StoreConflict(conflict);
      throw err;
    }
  }

  async close(): Promise<void> {
    await this.db.destroy();
  }

  transaction<T>(fn: (tx: DbStore) => Promise<T>): Promise<T> {
    if (this.db.isTransaction) return fn(this);
    return this.io(() =>
      this.db.transaction().execute(async (trx: Transaction<Tables>) => {
        const tx = new DbStore(trx, this.dialect);
        const result = await fn(tx);
        await tx.flush();
        return result;
      }),
    );
  }

  /** See StoreDialect.notifyQuery: other switchboards hear the payloads when this transaction commits. */
  async notify(...payloads: string[]): Promise<void> {
    const query = this.dialect.notifyQuery(payloads);
    if (query) await this.write(query, 'notify');
  }

  async ping(): Promise<void> {
    await this.first(q.ping(this.db));
  }

  // -- users and tokens --

  async addUser(
    name: string,
    passwordHash: string | null,
    isAdmin: boolean,
    email: string | null = null,
  ): Promise<UserRow> {
    if (await this.userByIdentifier(name)) throw new StoreConflict(`user "${name}" already exists`);
    if (email !== null && (await this.userByIdentifier(email))) {
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
    await this.insert(q.insertUser(this.db, row), `user "${name}" already exists`);
    return row;
  }

  async userByName(name: string): Promise<UserRow | undefined> {
    return this.first(q.userByName(this.db, name));
  }

  async userByIdentifier(identifier: string): Promise<UserRow | undefined> {
    return (await this.userByName(identifier)) ?? (await this.first(q.userByEmail(this.db, identifier)));
  }

  async userById(id: string): Promise<UserRow | undefined> {
    return this.first(q.userById(this.db, id));
  }

  async users(): Promise<UserRow[]> {
    return this.all(q.users(this.db));
  }

  removeUser(id: string): Promise<'removed' | 'has_jobs' | 'not_found'> {
    return this.transaction(async (tx) => {
      if (!(await tx.userById(id))) return 'not_found';
      if (await tx.first(q.jobsOfOwner(tx.db, id))) return 'has_jobs';
      await tx.run(q.deleteUser(tx.db, id));
      return 'removed';
    });
  }

  async setUserLocked(id: string, at: number | null): Promise<void> {
    await this.run(q.setUserLocked(this.db, id, at));
  }

  async tokens(): Promise<TokenInfo[]> {
    return this.all(q.tokens(this.db));
  }

  async removeToken(hash: Buffer): Promise<boolean> {
    return (await this.run(q.deleteToken(this.db, hash))) > 0;
  }

  async addToken(hash: Buffer, userId: string, expiresAt: number | null): Promise<number> {
    const createdAt = Date.now();
    await this.run(
      q.insertToken(this.db, { token_hash: hash, user_id: userId, created_at: createdAt, expires_at: expiresAt }),
    );
    return createdAt;
  }

  async userTokens(userId: string, now: number, limit: number): Promise<UserTokenInfo[]> {
    return this.all(q.userTokens(this.db, userId, now, limit));
  }

  async removeUserToken(userId: string, hash: Buffer): Promise<boolean> {
    return (await this.run(q.deleteUserToken(this.db, userId, hash))) > 0;
  }

  async tokenByHash(hash: Buffer): Promise<TokenOwner | undefined> {
    return this.first(precompiled.tokenByHash.with(this.db, hash));
  }

  async pruneExpiredTokens(now = Date.now()): Promise<number> {
    return this.run(q.pruneTokens(this.db, now));
  }

  // -- supervisors --

  async supervisorLastSeen(id: string): Promise<number | null> {
    return (await this.first(q.supervisorLastSeen(this.db, id)))?.at ?? null;
  }

  async addSupervisor(
    name: string,
    tags: string,
    tokenHash: Buffer,
    id: string = randomUUID(),
  ): Promise<SupervisorRow> {
    if (await this.first(q.supervisorByName(this.db, name)))
      throw new StoreConflict(`supervisor "${name}" already exists`);
    if (await this.supervisorById(id)) throw new StoreConflict(`a supervisor with id ${id} already exists`);
    const row: SupervisorRow = { id, name, tags, token_hash: tokenHash, created_at: Date.now() };
    await this.insert(q.insertSupervisor(this.db, row), `supervisor "${name}" or id ${id} already exists`);
    return row;
  }

  async supervisors(): Promise<SupervisorRow[]> {
    return this.all(precompiled.supervisors.with(this.db));
  }

  async supervisorById(id: string): Promise<SupervisorRow | undefined> {
    return this.first(precompiled.supervisorById.with(this.db, id));
  }

  removeSupervisor(id: string): Promise<'removed' | 'has_active_jobs' | 'not_found'> {
    return this.transaction(async (tx) => {
      if (!(await tx.supervisorById(id))) return 'not_found';
      if (await tx.first(q.activeJobOn(tx.db, id))) return 'has_active_jobs';
      await tx.run(q.forgetSupervisor(tx.db, id));
      await tx.run(q.deleteSupervisor(tx.db, id));
      return 'removed';
    });
  }

  async activeJobsOf(supervisorId: string): Promise<string[]> {
    if (this.db.isTransaction && this.dialect.rowLocks) {
      await this.first(precompiled.supervisorForUpdate.with(this.db, supervisorId), `supervisors:${supervisorId}`);
    }
    // Held writes of jobs' rows may stay held: the caller counts its own changes (see the interface).
    const rows = await this.all(precompiled.activeJobOn.with(this.db, supervisorId), `jobs on ${supervisorId}`);
    return rows.map((r) => r.id);
  }

  async setSupervisorTags(id: string, tags: string): Promise<void> {
    await this.run(q.setSupervisorTags(this.db, id, tags));
  }

  // -- jobs --

  async insertJob(id: string, ownerId: string, request: StoredJobRequest, now: number): Promise<JobRow> {
    return (await this.insertJobs([{ id, ownerId, request }], now))[0]!;
  }

  insertJobs(jobs: NewJob[], now: number): Promise<JobRow[]> {
    return this.transaction(async (tx) => {
      const stored = new Map<string, JobRow>();
      for (let i = 0; i < jobs.length; i += JOBS_PER_INSERT) {
        const some = jobs.slice(i, i + JOBS_PER_INSERT);
        const conflict =
          some.length === 1
            ? `a job with id ${some[0]!.id} already exists`
            : 'a job with one of these ids already exists';
        const rows = await tx.insertAll(
          insertJobsQuery(
            tx.db,
            some.map((j) => newJobRow(j, now)),
          ),
          conflict,
        );
        for (const row of rows) stored.set(row.id, row);
      }
      return jobs.map((j) => stored.get(j.id)!);
    });
  }

  async job(id: string): Promise<JobRow | undefined> {
    return this.first(precompiled.jobById.with(this.db, id), `jobs:${id}`);
  }

  async jobForUpdate(id: string): Promise<JobRow | undefined> {
    const query = this.dialect.rowLocks ? precompiled.jobForUpdate : precompiled.jobById;
    return this.first(query.with(this.db, id), `jobs:${id}`);
  }

  async jobAndRequestUnlessLocked(
    id: string,
  ): Promise<{ job: JobRow; request: StoredJobRequest } | 'locked' | undefined> {
    const query = this.dialect.rowLocks ? precompiled.jobAndRequestUnlessLocked : precompiled.jobAndRequest;
    const row = await this.first(query.with(this.db, id), `jobs:${id}`);
    // No row is no job, or one locked: the job's own read tells which (rarely needed).
    if (!row) return this.dialect.rowLocks && (await this.job(id)) ? 'locked' : undefined;
    const { request, ...job } = row;
    return { job, request: JSON.parse(request) as StoredJobRequest };
  }

  async jobRequest(id: string): Promise<StoredJobRequest | undefined> {
    const row = await this.first(q.jobRequest(this.db, id));
    return row && (JSON.parse(row.request) as StoredJobRequest);
  }

  async activeJobs(): Promise<ActiveJobRow[]> {
    return this.all(q.activeJobs(this.db));
  }

  async jobPage(query: JobPageQuery): Promise<JobRow[]> {
    return this.all(q.jobPage(this.db, query));
  }

  async listedJobs(query: ListedJobsQuery): Promise<ListedJobRow[]> {
    return this.all(q.listedJobs(this.db, query));
  }

  async updateJob(update: JobUpdate): Promise<void> {
    await this.write(updateJobQuery(this.db, update), `jobs:${update.id}`);
  }

  async insertEvents(events: NewJobEvent[]): Promise<void> {
    // Within the engines' limits on parameters per statement; one insert at a time, so that the
    // events' sequence numbers follow their order.
    for (let i = 0; i < events.length; i += EVENTS_PER_INSERT) {
      await this.write(insertEventsQuery(this.db, events.slice(i, i + EVENTS_PER_INSERT)), 'job_events');
    }
  }

  async events(jobId: string, after = 0, limit = Number.MAX_SAFE_INTEGER): Promise<JobEventRow[]> {
    return this.all(q.events(this.db, jobId, after, limit));
  }

  async eventCount(jobId: string): Promise<number> {
    return (await this.first(precompiled.eventCount.with(this.db, jobId)))?.n ?? 0;
  }

  // -- console log --

  insertLog(
    jobId: string,
    logStart: number,
    logEnd: number,
    data: Buffer,
    keep: number,
  ): Promise<{ start: number; end: number }> {
    return this.transaction(async (tx) => {
      await tx.write(precompiled.insertLog.with(tx.db, jobId, logEnd, data), `job_log:${jobId}:${logEnd}`);
      const end = logEnd + data.length;
      if (end - logStart <= keep) return { start: logStart, end };
      await tx.run(q.pruneLog(tx.db, jobId, end - keep));
      return { start: (await tx.first(q.firstLogOffset(tx.db, jobId)))?.o ?? end, end };
    });
  }

  async setLogBounds(jobId: string, start: number, end: number): Promise<void> {
    await this.write(precompiled.setLogBounds.with(this.db, jobId, start, end), `jobs:${jobId}`);
  }

  async readLog(jobId: string, offset: number, maxChunks: number): Promise<LogChunk[]> {
    return this.all(q.readLog(this.db, jobId, offset, maxChunks));
  }

  async lastLogOffset(jobId: string): Promise<number | undefined> {
    return (await this.first(q.lastLogOffset(this.db, jobId)))?.o ?? undefined;
  }

  // -- the web console --

  async addSession(hash: Buffer, userId: string, now: number, expiresAt: number): Promise<void> {
    await this.transaction(async (tx) => {
      await tx.run(q.pruneSessions(tx.db, now));
      await tx.run(
        q.insertSession(tx.db, { token_hash: hash, user_id: userId, created_at: now, expires_at: expiresAt }),
      );
    });
  }

  async session(hash: Buffer): Promise<SessionOwner | undefined> {
    return this.first(precompiled.session.with(this.db, hash));
  }

  async removeSession(hash: Buffer): Promise<void> {
    await this.run(q.deleteSession(this.db, hash));
  }

  async putConsoleTime(jobId: string, offset: number, at: number, start: number): Promise<void> {
    await this.transaction(async (tx) => {
      await tx.write(precompiled.putConsoleTime.with(tx.db, jobId, offset, at), `web_console_times:${jobId}:${offset}`);
      if (start > 0) await tx.run(q.pruneConsoleTimes(tx.db, jobId, start));
    });
  }

  async consoleTimes(jobId: string, from: number, to: number, limit: number): Promise<ConsoleTimeRow[]> {
    return this.all(q.consoleTimes(this.db, jobId, from, to, limit));
  }
}
