// The store over PostgreSQL: the behaviour every store has (store-conformance.ts), and what is
// PostgreSQL's own about opening one.

import { randomBytes } from 'node:crypto';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import pg from 'pg';
import { openPostgresStore } from '../../switchboard/pg-store.js';
import { StoreOpenError, StoreUnavailable } from '../../switchboard/store.js';
import { createDatabase, freshDatabase, postgresTest, postgresUrl } from './postgres.js';
import { storeConformance } from './store-conformance.js';
import { storedJobRequest } from './harness.js';

const test = postgresTest();

storeConformance(
  'PostgreSQL',
  async () => {
    const db = await createDatabase();
    const store = await openPostgresStore(db.url);
    return {
      store,
      dispose: async () => {
        await store.close();
        await db.drop();
      },
    };
  },
  test,
);

async function onServer(statement: string, url = postgresUrl()!): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}

test('a job row another transaction holds locked is `locked` to a start, not waited for', async (t) => {
  const store = await openPostgresStore(await freshDatabase(t));
  t.teardown(() => store.close());
  const owner = (await store.addUser('o', null, false)).id;
  const id = '00000000-0000-4000-8000-000000000001';
  await store.insertJob(id, owner, storedJobRequest(), 1);
  await store.transaction(async (holder) => {
    await holder.jobForUpdate(id);
    // The outer store's transactions run beside the one open, on a connection of their own.
    t.is(await store.transaction((tx) => tx.jobAndRequestUnlessLocked(id)), 'locked');
  });
  t.like(await store.transaction((tx) => tx.jobAndRequestUnlessLocked(id)), { job: { id } });
  t.is(
    await store.transaction((tx) => tx.jobAndRequestUnlessLocked('00000000-0000-4000-8000-000000000002')),
    undefined,
  );
});

test('a database opened again keeps its rows and applies no migration', async (t) => {
  const url = await freshDatabase(t);
  const first = await openPostgresStore(url);
  await first.addUser('kept', null, false);
  await first.close();
  const again = await openPostgresStore(url);
  t.truthy(await again.userByName('kept'));
  await again.close();
});

test('switchboards opening one fresh database at once both get the migrated store', async (t) => {
  const url = await freshDatabase(t);
  const stores = await Promise.all([openPostgresStore(url), openPostgresStore(url), openPostgresStore(url)]);
  await stores[0]!.addUser('one', null, false);
  for (const s of stores) t.truthy(await s.userByName('one'));
  await Promise.all(stores.map((s) => s.close()));
});

test('a database from a newer switchboard is refused', async (t) => {
  const url = await freshDatabase(t);
  await (await openPostgresStore(url)).close();
  await onServer('update tml_schema set version = version + 1', url);
  await t.throwsAsync(openPostgresStore(url), { instanceOf: StoreOpenError, message: /newer than this switchboard/ });
});

test('a user who may not create tables there is one line saying so', async (t) => {
  const role = `tml_r_${randomBytes(6).toString('hex')}`;
  // Teardowns run last first: the role goes after its database.
  t.teardown(() => onServer(`drop role if exists ${role}`));
  const url = await freshDatabase(t);
  await onServer(`create role ${role} login`);
  const as = new URL(url);
  as.username = role;
  const err = await t.throwsAsync(openPostgresStore(as.toString()), { instanceOf: StoreOpenError });
  t.regex(err.message, /^cannot migrate the PostgreSQL database at [^ ]+: permission denied for schema public$/);
});

test('names are listed in byte order, as on SQLite, whatever order the database collates text in', async (t) => {
  // ICU's English puts "a" before "B"; bytes put "B" first.
  const url = await freshDatabase(t, "TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'");
  const store = await openPostgresStore(url);
  try {
    for (const name of ['b', 'a', 'B']) {
      await store.addUser(name, null, false);
      await store.addSupervisor(name, '', Buffer.alloc(32, name.charCodeAt(0)));
    }
    t.deepEqual(
      (await store.users()).map((u) => u.name),
      ['B', 'a', 'b'],
    );
    t.deepEqual(
      (await store.supervisors()).map((s) => s.name),
      ['B', 'a', 'b'],
    );
  } finally {
    await store.close();
  }
});

test('a connection the server ends is replaced: a warning names it, and the next call works', async (t) => {
  const url = await freshDatabase(t);
  const warnings: string[] = [];
  const store = await openPostgresStore(url, { onWarning: (m) => warnings.push(m) });
  try {
    await store.addUser('before', null, false);
    const database = new URL(url).pathname.slice(1);
    await onServer(
      `select pg_terminate_backend(pid) from pg_stat_activity where datname = '${database}' and pid <> pg_backend_pid()`,
    );
    while (warnings.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    t.regex(warnings[0]!, /^PostgreSQL at \S+: terminating connection due to administrator command$/);
    t.truthy(await store.userByName('before'));
  } finally {
    await store.close();
  }
});

/** A TCP relay to the test server that the test can cut off (closing every connection) and bring back. */
async function relay(
  target: URL,
): Promise<{ port: number; cut(): Promise<void>; restore(): Promise<void>; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  let server: Server;
  let port = 0;
  const listen = async () => {
    server = createServer((client) => {
      const upstream = connect(Number(target.port || 5432), target.hostname);
      for (const s of [client, upstream]) {
        sockets.add(s);
        s.on('error', () => {});
        s.on('close', () => sockets.delete(s));
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  };
  const cut = async () => {
    const closed = new Promise((resolve) => server.close(resolve));
    for (const s of sockets) s.destroy();
    await closed;
  };
  await listen();
  return { port, cut, restore: listen, close: cut };
}

test('while the server cannot be reached every call is StoreUnavailable, and once it is back the store works', async (t) => {
  const url = new URL(await freshDatabase(t));
  const r = await relay(url);
  const via = new URL(url);
  via.hostname = '127.0.0.1';
  via.port = String(r.port);
  const store = await openPostgresStore(via.toString(), { onWarning: () => {} });
  try {
    await store.addUser('kept', null, false);
    await r.cut();
    await t.throwsAsync(store.userByName('kept'), { instanceOf: StoreUnavailable, message: /^database: / });
    await t.throwsAsync(store.addUser('lost', null, false), { instanceOf: StoreUnavailable });
    await r.restore();
    t.truthy(await store.userByName('kept'));
    t.is(await store.userByName('lost'), undefined);
  } finally {
    await store.close();
    await r.close();
  }
});
