import test from 'ava';
import Database from 'better-sqlite3';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MIGRATIONS } from '../../switchboard/migrations.js';
import { SqliteStore } from '../../switchboard/sqlite-store.js';
import { StoreOpenError } from '../../switchboard/store.js';
import { storeConformance } from './store-conformance.js';
import { tempDir } from './harness.js';

storeConformance('SQLite in memory', async () => {
  const store = await SqliteStore.open(':memory:');
  return { store, dispose: () => store.close() };
});

storeConformance('SQLite file', async () => {
  const { dir, cleanup } = tempDir();
  const store = await SqliteStore.open(join(dir, 'c.sqlite'));
  return {
    store,
    dispose: async () => {
      await store.close();
      cleanup();
    },
  };
});

// Made by the switchboard before the store (SQL-text migrations, user_version 3): two users (one
// with an e-mail address in mixed case), two tokens, a supervisor, a finished job with events and
// 2006 bytes of console of which the newest 2000 are kept, and a queued job.
const LEGACY = fileURLToPath(new URL('../../../test/switchboard/fixtures/schema-v3.sqlite', import.meta.url));

test('a database made by the switchboard before the store opens with its data', async (t) => {
  const { dir, cleanup } = tempDir();
  const path = join(dir, 'old.sqlite');
  copyFileSync(LEGACY, path);
  const store = await SqliteStore.open(path);
  try {
    const alice = (await store.userByIdentifier('alice@example.org'))!;
    t.is(alice.name, 'alice');
    t.is(alice.is_admin, 0);
    t.is((await store.userByName('root'))?.is_admin, 1);
    t.is((await store.tokenByHash(Buffer.alloc(32, 1)))?.id, alice.id);
    t.is((await store.tokenByHash(Buffer.alloc(32, 2)))?.expires_at, 4102444800000);
    t.deepEqual(
      (await store.supervisors()).map((s) => [s.id, s.name, s.tags]),
      [['11111111-2222-4333-8444-555555555555', 'rack-1', 'board:nrf;site:lab']],
    );
    const done = '00000000-0000-4000-8000-000000000001';
    t.like(await store.job(done), {
      state: 'terminated',
      exit_status: 'workload_finished_success',
      exit_message: 'ok',
      log_start: 6,
      log_end: 2006,
    });
    t.deepEqual((await store.jobRequest(done))?.parameters, {
      p: { value: 'v', secret: false },
      s: { value: 'hidden', secret: true },
    });
    // What listings show of the request was copied out of it.
    t.like(await store.job(done), { override_timeout: 120, restart_of: null });
    t.deepEqual(JSON.parse((await store.job(done))!.init_spec), { type: 'image', image_id: 'a'.repeat(64) });
    t.deepEqual(
      (await store.events(done)).map((e) => e.kind),
      ['state', 'state', 'state', 'exit_status', 'state'],
    );
    t.deepEqual(Buffer.concat((await store.readLog(done, 6, 10)).map((c) => c.data)), Buffer.alloc(2000, 0x41));
    t.deepEqual(
      (await store.activeJobs()).map((j) => j.id),
      ['00000000-0000-4000-8000-000000000002'],
    );
    // And it takes new rows.
    await store.addUser('bob', null, false, 'bob@example.org');
    await t.throwsAsync(() => store.addUser('carl', null, false, 'ALICE@example.org'), { message: /already taken/ });
  } finally {
    await store.close();
    cleanup();
  }
});

test('a fresh database gets every migration, and opening it again applies none', async (t) => {
  const { dir, cleanup } = tempDir();
  const store = await SqliteStore.open(join(dir, 'a.sqlite'));
  t.is(store.sql.pragma('user_version', { simple: true }), MIGRATIONS.length);
  t.is(store.sql.pragma('journal_mode', { simple: true }), 'wal');
  await store.addUser('kept', null, false);
  await store.close();
  const again = await SqliteStore.open(join(dir, 'a.sqlite'));
  t.is(again.sql.pragma('user_version', { simple: true }), MIGRATIONS.length);
  t.truthy(await again.userByName('kept'));
  await again.close();
  cleanup();
});

test('a fresh database has the tables, columns and indexes of one made before the store and migrated', async (t) => {
  const { dir, cleanup } = tempDir();
  const old = join(dir, 'old.sqlite');
  copyFileSync(LEGACY, old);
  const fresh = await SqliteStore.open(join(dir, 'new.sqlite'));
  const schema = (db: Database.Database) =>
    (
      db
        .prepare("SELECT type, name, tbl_name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name")
        .all() as object[]
    ).concat(
      (
        db
          .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
          .all() as Array<{ name: string }>
      ).map(({ name }) => ({ name, columns: db.pragma(`table_info(${name})`) })),
    );
  const legacy = await SqliteStore.open(old);
  t.deepEqual(schema(fresh.sql), schema(legacy.sql));
  await legacy.close();
  await fresh.close();
  cleanup();
});

test('a database from a newer switchboard is refused', async (t) => {
  const { dir, cleanup } = tempDir();
  const raw = new Database(join(dir, 'b.sqlite'));
  raw.pragma(`user_version = ${MIGRATIONS.length + 1}`);
  raw.close();
  await t.throwsAsync(() => SqliteStore.open(join(dir, 'b.sqlite')), {
    instanceOf: StoreOpenError,
    message: /newer than this switchboard/,
  });
  cleanup();
});
