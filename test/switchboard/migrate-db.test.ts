// tml-switchboard migrate-db: a SQLite switchboard database copied into PostgreSQL row for row,
// after which the PostgreSQL store serves what the SQLite one did and numbers new rows past the
// copied ones.

import test from 'ava';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import { newToken } from '../../switchboard/auth.js';
import type { DbStore } from '../../switchboard/db-store.js';
import { migrateDb } from '../../switchboard/migrate-db.js';
import { openStore } from '../../switchboard/open-store.js';
import type { Tables } from '../../switchboard/schema.js';
import { SqliteStore } from '../../switchboard/sqlite-store.js';
import { storedJobRequest, tempDir } from './harness.js';
import { freshDatabase, postgresTest } from './postgres.js';
import { admin } from './process.js';

const pgTest = postgresTest();

/** Every table with its primary key, as migrate-db copies them. */
const KEYS: Record<keyof Tables, string[]> = {
  users: ['id'],
  supervisors: ['id'],
  api_tokens: ['token_hash'],
  web_sessions: ['token_hash'],
  jobs: ['seq'],
  job_events: ['seq'],
  job_log: ['job_id', 'offset'],
  web_console_times: ['job_id', 'offset'],
};

async function everyRow(db: Kysely<any>): Promise<Record<string, unknown[]>> {
  const out: Record<string, unknown[]> = {};
  for (const [table, key] of Object.entries(KEYS)) {
    let q = db.selectFrom(table).selectAll();
    for (const k of key) q = q.orderBy(k);
    out[table] = await q.execute();
  }
  return out;
}

/**
 * A switchboard's database with something in every table: users (one locked, one with an e-mail
 * address), tokens, sessions, a supervisor, 250 jobs (more than a page), finished ones with events,
 * console log in small chunks and in chunks large enough to take several pages, and queued ones.
 */
async function sqliteSwitchboard(path: string): Promise<{ token: Buffer; lastSeq: number }> {
  const store = await SqliteStore.open(path);
  const alice = await store.addUser('alice', 'scrypt$hash', false, 'alice@example.org');
  const root = await store.addUser('root', null, true);
  await store.setUserLocked(root.id, 1_700_000_000_000);
  const token = newToken();
  await store.addToken(token.hash, alice.id, null);
  await store.addToken(newToken().hash, root.id, Date.now() + 3_600_000);
  await store.addSession(Buffer.alloc(32, 7), alice.id, Date.now(), Date.now() + 60_000);
  const sup = await store.addSupervisor('rpi-1', 'board:rpi4;site:lab', newToken().hash);
  const big = Buffer.alloc(300 * 1024);
  for (let i = 0; i < big.length; i++) big[i] = (i * 7919) % 256;
  await store.transaction(async (tx) => {
    for (let j = 0; j < 250; j++) {
      const id = `00000000-0000-4000-8000-${String(j).padStart(12, '0')}`;
      await tx.insertJob(
        id,
        alice.id,
        storedJobRequest({ tag_config: 'board:rpi4', parameters: { n: { value: String(j), secret: j % 2 === 0 } } }),
        1000 + j,
      );
      if (j >= 240) continue; // the last ten stay queued
      const at = 2000 + j;
      await tx.updateJob({
        id,
        state: 'terminated',
        stage: null,
        status_message: 'done',
        exit_status: 'workload_finished_success',
        exit_message: null,
        supervisor_id: sup.id,
        scheduled_at: at,
        updated_at: at,
        terminated_at: at,
      });
      for (const state of ['initializing', 'ready', 'terminating', 'terminated'] as const) {
        await tx.insertEvents([
          {
            job_id: id,
            at,
            kind: 'state',
            by: 'supervisor',
            state,
            stage: null,
            status_message: null,
            exit_status: null,
          },
        ]);
      }
      let start = 0;
      let end = 0;
      for (let c = 0; c < 3; c++) {
        ({ start, end } = await tx.insertLog(
          id,
          start,
          end,
          Buffer.from(`job ${j} line ${c}\r\n\u0000\u00ff`, 'latin1'),
          1 << 20,
        ));
        await tx.putConsoleTime(id, end, at + c, start);
      }
      if (j < 20) ({ start, end } = await tx.insertLog(id, start, end, big, 1 << 30));
      await tx.setLogBounds(id, start, end);
    }
  });
  const lastSeq = (await store.jobPage({ limit: 1 }))[0]!.seq;
  await store.close();
  return { token: token.hash, lastSeq };
}

pgTest(
  'every row of every table arrives as it was; the PostgreSQL store then serves it and numbers new rows after it',
  async (t) => {
    const { dir, cleanup } = tempDir();
    t.teardown(cleanup);
    const path = join(dir, 'sb.sqlite');
    const { token, lastSeq } = await sqliteSwitchboard(path);
    const url = await freshDatabase(t);

    const copied = await migrateDb(path, url);
    t.like(copied, {
      users: 2,
      api_tokens: 2,
      web_sessions: 1,
      supervisors: 1,
      jobs: 250,
      job_events: 960,
      job_log: 740,
      web_console_times: 720,
    });

    const source: DbStore = await openStore(path);
    const target: DbStore = await openStore(url);
    t.teardown(() => Promise.all([source.close(), target.close()]));
    t.deepEqual(await everyRow(target.kysely), await everyRow(source.kysely));

    t.is((await target.tokenByHash(token))?.name, 'alice', 'a copied token still logs in');
    const [first] = await target.jobPage({ limit: 1, beforeSeq: lastSeq });
    const log = await target.readLog(first!.id, 0, 100);
    t.deepEqual(log, await source.readLog(first!.id, 0, 100), "a job's console log, byte for byte");

    const alice = (await target.userByName('alice'))!;
    await target.insertJob('11111111-1111-4111-8111-111111111111', alice.id, storedJobRequest(), Date.now());
    t.true(
      (await target.job('11111111-1111-4111-8111-111111111111'))!.seq > lastSeq,
      'a new job comes after the copied ones',
    );
    const lastEvent = (
      await source.kysely.selectFrom('job_events').select('seq').orderBy('seq', 'desc').executeTakeFirstOrThrow()
    ).seq;
    await target.insertEvents([
      {
        job_id: first!.id,
        at: 1,
        kind: 'state',
        by: 'switchboard',
        state: 'terminated',
        stage: null,
        status_message: null,
        exit_status: null,
      },
    ]);
    t.true((await target.events(first!.id)).at(-1)!.seq > lastEvent, 'and a new event after the copied events');
  },
);

pgTest('a second migrate into the same database is refused, in one line naming what it holds (exit 1)', async (t) => {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const path = join(dir, 'sb.sqlite');
  await sqliteSwitchboard(path);
  const url = await freshDatabase(t);
  t.is(admin(['migrate-db', '--from', path, '--to', url, '--json']).status, 0);
  const again = admin(['migrate-db', '--from', path, '--to', url]);
  t.is(again.status, 1);
  t.regex(
    again.stderr,
    /^tml-switchboard: --to: \S+ already holds switchboard data \(2 users, 1 supervisors, .*\): migrate into an empty database\n$/,
  );
});

pgTest('--json prints what was copied, table by table', async (t) => {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const path = join(dir, 'sb.sqlite');
  const store = await SqliteStore.open(path);
  await store.addUser('alice', null, false);
  await store.close();
  const url = await freshDatabase(t);
  const r = admin(['migrate-db', '--from', path, '--to', url, '--json']);
  t.is(r.status, 0, r.stderr);
  t.like(JSON.parse(r.stdout), { from: path, copied: { users: 1, jobs: 0, job_log: 0 } });
});

test('a source that is not a switchboard database, or is missing, is refused and left as it was (exit 1)', (t) => {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const junk = join(dir, 'notes.txt');
  writeFileSync(junk, 'not a database\n');
  const missing = join(dir, 'missing.sqlite');
  const url = 'postgres://nobody@127.0.0.1:1/none';
  const r1 = admin(['migrate-db', '--from', junk, '--to', url]);
  t.is(r1.status, 1);
  t.is(r1.stderr, `tml-switchboard: --from: ${junk} is not a switchboard database (file is not a database)\n`);
  const r2 = admin(['migrate-db', '--from', missing, '--to', url]);
  t.is(r2.status, 1);
  t.is(r2.stderr, `tml-switchboard: --from: ${missing} does not exist\n`);
  t.is(readFileSync(junk, 'utf8'), 'not a database\n');
  t.false(existsSync(missing), 'no database made where none was');
});

test('a target that cannot be reached is one line (exit 1); one that is no PostgreSQL URL is a usage error (exit 2)', async (t) => {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const path = join(dir, 'sb.sqlite');
  await (await SqliteStore.open(path)).close();
  const r1 = admin(['migrate-db', '--from', path, '--to', 'postgres://nobody@127.0.0.1:1/none']);
  t.is(r1.status, 1);
  t.is(r1.stderr, 'tml-switchboard: --to: cannot connect to PostgreSQL at 127.0.0.1:1: connection refused\n');
  const r2 = admin(['migrate-db', '--from', path, '--to', join(dir, 'other.sqlite')]);
  t.is(r2.status, 2);
  t.regex(r2.stderr, /^tml-switchboard: --to: not a PostgreSQL URL/);
});
