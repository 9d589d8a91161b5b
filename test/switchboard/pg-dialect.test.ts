import test from 'ava';
import { createServer } from 'node:net';
import { isPostgresUrl, redactedUrl } from '../../switchboard/open-store.js';
import { connectPostgres, postgresDialect } from '../../switchboard/pg-store.js';
import { StoreOpenError } from '../../switchboard/store.js';
import { postgresTest, postgresUrl } from './postgres.js';

const pgTest = postgresTest();

const withCode = (code: string, message = 'x') => Object.assign(new Error(message), { code });

test('a full disk is "full"; a server that is down, starting, stopping, short of resources or read-only is "unavailable"', (t) => {
  const kind = (err: unknown) => postgresDialect.unavailableKind(err);
  t.is(kind(withCode('53100')), 'full');
  for (const code of ['53200', '53300', '08006', '08001', '57P01', '57P02', '57P03', '58030', '25006']) {
    t.is(kind(withCode(code)), 'unavailable', code);
  }
  for (const code of ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH'])
    t.is(kind(withCode(code)), 'unavailable');
  // Node's connection attempts to each address of a name fail together.
  t.is(kind(new AggregateError([withCode('ECONNREFUSED'), withCode('ECONNREFUSED')])), 'unavailable');
  t.is(kind(new Error('Connection terminated unexpectedly')), 'unavailable');
  t.is(kind(new Error('timeout exceeded when trying to connect')), 'unavailable');
});

test('a constraint violation, a syntax error or a bug is not the database being unavailable', (t) => {
  for (const code of ['23505', '23503', '42601', '42P01', '40001'])
    t.is(postgresDialect.unavailableKind(withCode(code)), null);
  t.is(postgresDialect.unavailableKind(new TypeError('x is undefined')), null);
  t.is(postgresDialect.unavailableKind('a string'), null);
});

test('a --db of postgres:// or postgresql:// is PostgreSQL, and its password never reaches a log', (t) => {
  t.true(isPostgresUrl('postgres://u@h/db'));
  t.true(isPostgresUrl('postgresql://u@h/db'));
  t.false(isPostgresUrl('/var/lib/tml/switchboard.sqlite'));
  t.false(isPostgresUrl('postgres.sqlite'));
  t.is(redactedUrl('postgres://tml:s3cret@db.example.org:5433/tml'), 'postgres://tml:***@db.example.org:5433/tml');
  t.is(redactedUrl('postgres://tml@127.0.0.1/tml'), 'postgres://tml@127.0.0.1/tml');
});

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

test('no server at the URL is one line naming where it looked, without the password', async (t) => {
  const port = await closedPort();
  const err = await t.throwsAsync(connectPostgres(`postgres://tml:s3cret@127.0.0.1:${port}/db`), {
    instanceOf: StoreOpenError,
  });
  t.is(err.message, `cannot connect to PostgreSQL at 127.0.0.1:${port}: connection refused`);
});

test('a URL that is not a PostgreSQL one is refused before any connection, without echoing it', async (t) => {
  await t.throwsAsync(connectPostgres('not a url:s3cret'), {
    instanceOf: StoreOpenError,
    message: '--db: not a PostgreSQL URL (postgres://USER@HOST[:PORT]/DATABASE)',
  });
  const err = await t.throwsAsync(connectPostgres('mysql://u:s3cret@127.0.0.1/db'), { instanceOf: StoreOpenError });
  t.notRegex(err.message, /s3cret/);
  t.regex(err.message, /not a PostgreSQL URL/);
});

pgTest('a database that does not exist on the server is one line saying so', async (t) => {
  const url = new URL(postgresUrl()!);
  url.pathname = '/tml_no_such_database';
  const err = await t.throwsAsync(connectPostgres(url.toString()), { instanceOf: StoreOpenError });
  t.is(err.message, `cannot connect to PostgreSQL at ${url.host}: database "tml_no_such_database" does not exist`);
});

pgTest('a user the server does not know is one line saying so', async (t) => {
  const url = new URL(postgresUrl()!);
  url.username = 'tml_nobody';
  url.password = 's3cret';
  const err = await t.throwsAsync(connectPostgres(url.toString()), { instanceOf: StoreOpenError });
  t.regex(err.message, /^cannot connect to PostgreSQL at [^:]+:\d+: .*"tml_nobody"/);
  t.notRegex(err.message, /s3cret/);
});
