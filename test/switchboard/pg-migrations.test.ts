// The schema and the queries on PostgreSQL, through Kysely's own dialects: every migration step
// runs there, every query of queries.ts runs there and answers as it does on SQLite, and switchboards
// migrating one database at once take turns.

import Database from 'better-sqlite3';
import { DeleteResult, InsertResult, Kysely, SqliteDialect, UpdateResult } from 'kysely';
import pg from 'pg';
import {
  MIGRATIONS,
  POSTGRES_MIGRATIONS,
  SQLITE_MIGRATIONS,
  type MigrationDialect,
} from '../../switchboard/migrations.js';
import { connectPostgres, postgresDialect } from '../../switchboard/pg-store.js';
import { queries } from '../../switchboard/queries.js';
import type { Tables } from '../../switchboard/schema.js';
import { freshDatabase, postgresTest } from './postgres.js';

const test = postgresTest();

type Db = Kysely<Tables>;

/** Every step, one transaction each, under the migration lock: what the store does on open. */
async function migrate(db: Db): Promise<void> {
  for (;;) {
    const done = await db.transaction().execute(async (trx) => {
      await postgresDialect.lockForMigration(trx);
      const v = await postgresDialect.readVersion(trx);
      if (v >= MIGRATIONS.length) return true;
      for (const c of MIGRATIONS[v]!(trx, POSTGRES_MIGRATIONS)) await trx.executeQuery(c);
      await postgresDialect.writeVersion(trx, v + 1);
      return false;
    });
    if (done) return;
  }
}

async function migrateSqlite(db: Db, d: MigrationDialect): Promise<void> {
  for (const step of MIGRATIONS) for (const c of step(db, d)) await db.executeQuery(c);
}

// Times in milliseconds and log offsets past 2^32: both need 64-bit columns.
const NOW = 1_767_225_600_000;
const FAR = 5_000_000_000;
const ALICE = '00000000-0000-4000-8000-0000000000a1';
const BOB = '00000000-0000-4000-8000-0000000000b0';
const SUP = '11111111-2222-4333-8444-555555555555';
const JOB = '00000000-0000-4000-8000-000000000001';
const TOKEN = Buffer.alloc(128, 7);
const SESSION = Buffer.alloc(32, 9);
const INIT_SPEC = JSON.stringify({ type: 'image', image_id: 'ab'.repeat(32) });

const user = (id: string, name: string, email: string | null) => ({
  id,
  name,
  email,
  password_hash: 'hash',
  is_admin: 1,
  created_at: NOW,
  locked_at: null,
});

const running = {
  id: JOB,
  state: 'ready',
  stage: null,
  status_message: 'up',
  exit_status: null,
  exit_message: null,
  supervisor_id: SUP,
  scheduled_at: NOW + 1,
  updated_at: NOW + 2,
  terminated_at: null,
} as const;

// Each query of queries.ts once, in an order the foreign keys allow; `satisfies` makes a new query
// a compile error here until it is added.
const calls = {
  ping: (db: Db) => queries.ping(db),
  insertUser: (db: Db) => queries.insertUser(db, user(ALICE, 'alice', 'Alice@Example.org')),
  userByName: (db: Db) => queries.userByName(db, 'alice'),
  userByEmail: (db: Db) => queries.userByEmail(db, 'alice@example.ORG'),
  userById: (db: Db) => queries.userById(db, ALICE),
  users: (db: Db) => queries.users(db),
  insertToken: (db: Db) =>
    queries.insertToken(db, { token_hash: TOKEN, user_id: ALICE, created_at: NOW, expires_at: NOW + 1000 }),
  tokens: (db: Db) => queries.tokens(db),
  tokenByHash: (db: Db) => queries.tokenByHash(db, TOKEN),
  userTokens: (db: Db) => queries.userTokens(db, ALICE, NOW, 10),
  insertSupervisor: (db: Db) =>
    queries.insertSupervisor(db, { id: SUP, name: 'rack-1', tags: 'board:nrf', token_hash: TOKEN, created_at: NOW }),
  supervisors: (db: Db) => queries.supervisors(db),
  supervisorById: (db: Db) => queries.supervisorById(db, SUP),
  supervisorByName: (db: Db) => queries.supervisorByName(db, 'rack-1'),
  setSupervisorTags: (db: Db) => queries.setSupervisorTags(db, SUP, 'board:nrf;site:lab'),
  insertJobs: (db: Db) =>
    queries.insertJobs(db, [
      {
        id: JOB,
        owner_id: ALICE,
        request: JSON.stringify({ init_spec: JSON.parse(INIT_SPEC) as unknown, tag_config: 'board:nrf_5%\\x' }),
        tag_config: 'board:nrf_5%\\x',
        state: 'queued',
        stage: null,
        status_message: null,
        exit_status: null,
        exit_message: null,
        supervisor_id: null,
        queued_at: NOW,
        scheduled_at: null,
        updated_at: NOW,
        terminated_at: null,
        init_spec: INIT_SPEC,
        restart_of: null,
        override_timeout: 120,
      },
    ]),
  jobById: (db: Db) => queries.jobById(db, JOB),
  jobAndRequest: (db: Db) => queries.jobAndRequest(db, JOB),
  jobRequest: (db: Db) => queries.jobRequest(db, JOB),
  updateJob: (db: Db) => queries.updateJob(db, running),
  activeJobs: (db: Db) => queries.activeJobs(db),
  activeJobOn: (db: Db) => queries.activeJobOn(db, SUP),
  jobPage: (db: Db) =>
    queries.jobPage(db, {
      beforeSeq: 10,
      ownerId: ALICE,
      state: 'ready',
      supervisorId: SUP,
      queuedFrom: NOW,
      limit: 10,
    }),
  listedJobs: (db: Db) =>
    queries.listedJobs(db, {
      beforeSeq: 10,
      ownerName: 'alice',
      state: 'ready',
      supervisor: 'rack-1',
      tagText: 'nrf_5%\\',
      imagePrefix: 'abab',
      queuedFrom: NOW,
      queuedUntil: NOW + 1,
      limit: 10,
    }),
  insertEvents: (db: Db) =>
    queries.insertEvents(db, [
      {
        job_id: JOB,
        at: NOW + 3,
        kind: 'state',
        by: 'supervisor',
        state: 'ready',
        stage: null,
        status_message: 'up',
        exit_status: null,
      },
    ]),
  events: (db: Db) => queries.events(db, JOB, 0, Number.MAX_SAFE_INTEGER),
  eventCount: (db: Db) => queries.eventCount(db, JOB),
  supervisorLastSeen: (db: Db) => queries.supervisorLastSeen(db, SUP),
  insertLog: (db: Db) => queries.insertLog(db, JOB, FAR, Buffer.from('hello ')),
  setLogBounds: (db: Db) => queries.setLogBounds(db, JOB, FAR, FAR + 6),
  readLog: (db: Db) => queries.readLog(db, JOB, FAR + 3, 10),
  lastLogOffset: (db: Db) => queries.lastLogOffset(db, JOB),
  pruneLog: (db: Db) => queries.pruneLog(db, JOB, FAR + 3),
  firstLogOffset: (db: Db) => queries.firstLogOffset(db, JOB),
  putConsoleTime: (db: Db) => queries.putConsoleTime(db, { job_id: JOB, offset: FAR, at: NOW + 4 }),
  consoleTimes: (db: Db) => queries.consoleTimes(db, JOB, FAR, FAR + 6, 10),
  pruneConsoleTimes: (db: Db) => queries.pruneConsoleTimes(db, JOB, FAR + 1),
  insertSession: (db: Db) =>
    queries.insertSession(db, { token_hash: SESSION, user_id: ALICE, created_at: NOW, expires_at: NOW + 10 }),
  session: (db: Db) => queries.session(db, SESSION),
  pruneSessions: (db: Db) => queries.pruneSessions(db, NOW),
  deleteSession: (db: Db) => queries.deleteSession(db, SESSION),
  setUserLocked: (db: Db) => queries.setUserLocked(db, ALICE, NOW + 5),
  jobsOfOwner: (db: Db) => queries.jobsOfOwner(db, ALICE),
  deleteUserToken: (db: Db) => queries.deleteUserToken(db, BOB, TOKEN),
  pruneTokens: (db: Db) => queries.pruneTokens(db, NOW + 1000),
  deleteToken: (db: Db) => queries.deleteToken(db, TOKEN),
  forgetSupervisor: (db: Db) => queries.forgetSupervisor(db, SUP),
  deleteSupervisor: (db: Db) => queries.deleteSupervisor(db, SUP),
  deleteUser: (db: Db) => queries.deleteUser(db, BOB),
} satisfies Record<keyof typeof queries, (db: Db) => { execute(): Promise<unknown> }>;

/** A statement's result as every engine reports it (SQLite adds its rowid to inserts). */
function outcome(result: unknown): unknown {
  if (result instanceof InsertResult) return { inserted: result.numInsertedOrUpdatedRows };
  if (result instanceof UpdateResult) return { updated: result.numUpdatedRows };
  if (result instanceof DeleteResult) return { deleted: result.numDeletedRows };
  if (Array.isArray(result)) return result.map((r) => outcome(r));
  return result;
}

async function runAll(db: Db): Promise<Record<string, unknown>> {
  await queries.insertUser(db, user(BOB, 'bob', null)).execute();
  const results: Record<string, unknown> = {};
  for (const [name, call] of Object.entries(calls)) {
    try {
      results[name] = outcome(await call(db).execute());
    } catch (err) {
      throw new Error(`${name}: ${(err as Error).message}`);
    }
  }
  return results;
}

test('every migration step runs on a fresh database, and every query then answers as it does on SQLite', async (t) => {
  const pgDb = await connectPostgres(await freshDatabase(t));
  const sqliteDb = new Kysely<Tables>({ dialect: new SqliteDialect({ database: new Database(':memory:') }) });
  t.teardown(() => Promise.all([pgDb.destroy(), sqliteDb.destroy()]));
  await migrate(pgDb);
  await migrateSqlite(sqliteDb, SQLITE_MIGRATIONS);

  const onPostgres = await runAll(pgDb);
  const onSqlite = await runAll(sqliteDb);
  t.deepEqual(onPostgres, onSqlite);
  // What the comparison rests on: the rows were there, and 64-bit numbers came back as numbers.
  t.like(onPostgres.jobById, [{ seq: 1, queued_at: NOW, override_timeout: 120, init_spec: INIT_SPEC }]);
  t.like(onPostgres.listedJobs, [{ id: JOB, state: 'ready', owner_name: 'alice', supervisor_name: 'rack-1' }]);
  t.deepEqual(onPostgres.eventCount, [{ n: 1 }]);
  t.deepEqual(onPostgres.readLog, [{ offset: FAR, data: Buffer.from('hello ') }]);
  t.deepEqual(onPostgres.tokenByHash, [
    { ...user(ALICE, 'alice', 'Alice@Example.org'), token_hash: TOKEN, expires_at: NOW + 1000 },
  ]);
  t.like(onPostgres, { userByEmail: [{ id: ALICE }], deleteUser: [{ deleted: 1n }], pruneTokens: [{ deleted: 1n }] });
});

test('a listing matches %, _ and backslash in tag text literally on PostgreSQL too', async (t) => {
  const db = await connectPostgres(await freshDatabase(t));
  t.teardown(() => db.destroy());
  await migrate(db);
  await calls.insertUser(db).execute();
  await calls.insertJobs(db).execute();
  const tags = async (tagText: string) =>
    (await queries.listedJobs(db, { tagText, limit: 10 }).execute()).map((j) => j.tag_config);
  t.deepEqual(await tags('nrf_5%\\x'), ['board:nrf_5%\\x']);
  t.deepEqual(await tags('nrfx5'), []);
  t.deepEqual(await tags('5%x'), []);
  t.deepEqual(await tags('%'), ['board:nrf_5%\\x']);
});

test('a job of an old request gets its listing columns from the request', async (t) => {
  const db = await connectPostgres(await freshDatabase(t));
  t.teardown(() => db.destroy());
  // Up to the step that adds the columns, with a job in it as such a database would have.
  for (let v = 0; v < 3; v++) for (const c of MIGRATIONS[v]!(db, POSTGRES_MIGRATIONS)) await db.executeQuery(c);
  const { locked_at: _, ...olderUser } = user(ALICE, 'alice', 'Alice@Example.org');
  await db.insertInto('users').values(olderUser).execute();
  const request = { init_spec: JSON.parse(INIT_SPEC) as unknown, restart_of: JOB, override_timeout: 90 };
  const old = { id: JOB, owner_id: ALICE, request: JSON.stringify(request), tag_config: '', state: 'queued' };
  await db
    .insertInto('jobs')
    .values({ ...old, queued_at: NOW, updated_at: NOW } as never)
    .execute();
  for (const c of MIGRATIONS[3]!(db, POSTGRES_MIGRATIONS)) await db.executeQuery(c);
  const row = await db.selectFrom('jobs').select(['init_spec', 'restart_of', 'override_timeout']).executeTakeFirst();
  t.deepEqual(row, { init_spec: INIT_SPEC, restart_of: JOB, override_timeout: 90 });
});

test('switchboards migrating one fresh database at once end at the same version without an error', async (t) => {
  const url = await freshDatabase(t);
  const [a, b] = await Promise.all([connectPostgres(url), connectPostgres(url)]);
  t.teardown(() => Promise.all([a.destroy(), b.destroy()]));
  await Promise.all([migrate(a), migrate(b)]);
  const version = (db: Db) => db.transaction().execute((trx) => postgresDialect.readVersion(trx));
  t.deepEqual(await Promise.all([version(a), version(b)]), [MIGRATIONS.length, MIGRATIONS.length]);
  const raw = new pg.Client({ connectionString: url });
  await raw.connect();
  const { rows } = await raw.query<{ n: string }>("select count(*) as n from pg_tables where schemaname = 'public'");
  await raw.end();
  // Eight tables of the store's, and the version's own.
  t.is(Number(rows[0]!.n), 9);
});
