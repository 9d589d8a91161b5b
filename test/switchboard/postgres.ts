// The PostgreSQL server the switchboard's PostgreSQL tests use: the one TML_TEST_POSTGRES_URL names
// (scripts/test-postgres starts a throwaway one). Without it those tests are skipped after one
// loud line, or fail under TML_TEST_REQUIRE_ALL=1. Each test takes a database of its own, so test
// files and tests run in parallel on one server.

import type { ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { testWith, type GroupTest, type Requirement } from '../helpers/tools.js';

/** The server's URL (its user may create databases), or null when none is given. */
export function postgresUrl(): string | null {
  return process.env.TML_TEST_POSTGRES_URL || null;
}

export const POSTGRES: Requirement = {
  tool: 'a PostgreSQL server named by TML_TEST_POSTGRES_URL',
  install: 'run the tests under scripts/test-postgres; apt-get install postgresql',
  found: postgresUrl() !== null,
};

/** `test` for tests that need the server: skipped (or failing) as a group without it. */
export function postgresTest(): GroupTest {
  return testWith(POSTGRES);
}

/** The URL of `base` with its database replaced by `name`. */
function withDatabase(base: string, name: string): string {
  const u = new URL(base);
  u.pathname = `/${name}`;
  return u.toString();
}

async function onServer(fn: (client: pg.Client) => Promise<unknown>): Promise<void> {
  const client = new pg.Client({ connectionString: postgresUrl() ?? undefined });
  await client.connect();
  try {
    await fn(client);
  } finally {
    await client.end();
  }
}

export interface ScratchDatabase {
  url: string;
  /** Drops it, closing any connection still on it. */
  drop(): Promise<void>;
}

/** A new, empty database on the server (tml_t_<random>), made with CREATE DATABASE's `options`. */
export async function createDatabase(options = ''): Promise<ScratchDatabase> {
  const base = postgresUrl();
  if (base === null) throw new Error('TML_TEST_POSTGRES_URL is not set');
  const name = `tml_t_${randomBytes(6).toString('hex')}`;
  await onServer((c) => c.query(`CREATE DATABASE ${name} ${options}`));
  return {
    url: withDatabase(base, name),
    drop: () => onServer((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)),
  };
}

/** A new, empty database for the test `t`, dropped when it ends; returns its URL. */
export async function freshDatabase(t: ExecutionContext, options = ''): Promise<string> {
  const db = await createDatabase(options);
  t.teardown(() => db.drop());
  return db.url;
}
