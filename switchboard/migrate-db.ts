// `tml-switchboard migrate-db`: copies a SQLite switchboard database into an empty PostgreSQL one,
// every row as it is (ids, seq numbers, bytes), in one PostgreSQL transaction: a copy that fails
// leaves the target empty. Rows go in pages by primary key, so memory stays bounded whatever the
// database holds.

import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import { sql, type Kysely, type Transaction } from 'kysely';
import type { DbStore } from './db-store.js';
import { isPostgresUrl, openStore, redactedUrl } from './open-store.js';
import type { Tables } from './schema.js';
import { StoreOpenError } from './store.js';

type TableName = keyof Tables;

interface TableCopy {
  table: TableName;
  /** The primary key, in the order pages follow. */
  key: readonly string[];
  /** Rows per page. */
  page: number;
}

/** Bytes of console log per page: its chunks are anything from a few bytes to a few hundred KiB. */
const LOG_PAGE_BYTES = 4 * 1024 * 1024;

/** Every table, parents before the rows that reference them. */
const COPIES: readonly TableCopy[] = [
  { table: 'users', key: ['id'], page: 1000 },
  { table: 'supervisors', key: ['id'], page: 1000 },
  { table: 'api_tokens', key: ['token_hash'], page: 1000 },
  { table: 'web_sessions', key: ['token_hash'], page: 1000 },
  // A job's request is up to 1 MiB.
  { table: 'jobs', key: ['seq'], page: 200 },
  { table: 'job_events', key: ['seq'], page: 2000 },
  { table: 'job_log', key: ['job_id', 'offset'], page: 2000 },
  { table: 'web_console_times', key: ['job_id', 'offset'], page: 2000 },
];

/** The tables whose seq numbers PostgreSQL hands out (identity columns). */
const SEQUENCED: readonly TableName[] = ['jobs', 'job_events'];

/** How many rows of each table were copied, in copy order. */
export type CopyCounts = Record<TableName, number>;

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- one loop over every table's rows
type AnyDb = Kysely<any>;
type Row = Record<string, unknown>;

/** A one-line refusal (not a switchboard database, a target that is not empty): exit 1. */
export class MigrateError extends Error {
  override name = 'MigrateError';
}

/** Refuses a file that is not a SQLite switchboard database, before opening it would make one. */
function checkSource(path: string): void {
  if (!existsSync(path)) throw new MigrateError(`--from: ${path} does not exist`);
  let conn: Database.Database | undefined;
  try {
    conn = new Database(path, { readonly: true, fileMustExist: true });
    const version = conn.pragma('user_version', { simple: true }) as number;
    const jobs = conn.prepare("select 1 from sqlite_master where type = 'table' and name = 'jobs'").get();
    if (version === 0 || !jobs) throw new MigrateError(`--from: ${path} is not a switchboard database`);
  } catch (err) {
    if (err instanceof MigrateError) throw err;
    throw new MigrateError(`--from: ${path} is not a switchboard database (${(err as Error).message})`);
  } finally {
    conn?.close();
  }
}

const after = (copy: TableCopy, last: Row, op: '>' | '<=') =>
  copy.key.length === 1
    ? sql<boolean>`${sql.ref(copy.key[0]!)} ${sql.raw(op)} ${last[copy.key[0]!]}`
    : sql<boolean>`(${sql.ref(copy.key[0]!)}, ${sql.ref(copy.key[1]!)}) ${sql.raw(op)} (${last[copy.key[0]!]}, ${last[copy.key[1]!]})`;

/** The rows of `copy.table` after the row `last` (by key) and up to `upTo`, in key order, at most a page. */
function rows(db: AnyDb, copy: TableCopy, last: Row | null, upTo: Row | null = null): Promise<Row[]> {
  let q = db.selectFrom(copy.table).selectAll();
  if (last) q = q.where(after(copy, last, '>'));
  if (upTo) q = q.where(after(copy, upTo, '<='));
  for (const k of copy.key) q = q.orderBy(k);
  return (upTo ? q : q.limit(copy.page)).execute() as Promise<Row[]>;
}

/** The keys and sizes of a page of job_log after `last`. */
function logKeys(db: AnyDb, copy: TableCopy, last: Row | null): Promise<Row[]> {
  let q = db.selectFrom('job_log').select(['job_id', 'offset', sql<number>`length(data)`.as('n')]);
  if (last) q = q.where(after(copy, last, '>'));
  return q.orderBy('job_id').orderBy('offset').limit(copy.page).execute() as Promise<Row[]>;
}

const insert = (to: Transaction<Tables>, table: TableName, values: Row[]) =>
  (to as unknown as AnyDb).insertInto(table).values(values).execute();

async function copyTable(from: AnyDb, to: Transaction<Tables>, copy: TableCopy): Promise<number> {
  let copied = 0;
  let last: Row | null = null;
  for (;;) {
    const page = await rows(from, copy, last);
    if (page.length === 0) return copied;
    await insert(to, copy.table, page);
    copied += page.length;
    last = page[page.length - 1]!;
  }
}

/** job_log in pages of at most LOG_PAGE_BYTES (or one larger chunk), each read by its key range. */
async function copyLog(from: AnyDb, to: Transaction<Tables>, copy: TableCopy): Promise<number> {
  let copied = 0;
  let last: Row | null = null;
  for (;;) {
    const keys = await logKeys(from, copy, last);
    if (keys.length === 0) return copied;
    let bytes = 0;
    for (let i = 0; i < keys.length; i++) {
      bytes += keys[i]!.n as number;
      if (bytes < LOG_PAGE_BYTES && i < keys.length - 1) continue;
      const page = await rows(from, copy, last, keys[i]!);
      await insert(to, 'job_log', page);
      copied += page.length;
      last = keys[i]!;
      bytes = 0;
    }
  }
}

/** The rows each table of `db` holds. */
async function counts(db: AnyDb): Promise<CopyCounts> {
  const out = {} as CopyCounts;
  for (const { table } of COPIES) {
    const r = await db
      .selectFrom(table)
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    out[table] = Number(r.n);
  }
  return out;
}

/**
 * Copies the SQLite switchboard database `fromPath` into the PostgreSQL database at `toUrl`, which
 * must hold no rows yet; both are migrated to the current schema first.
 */
export async function migrateDb(fromPath: string, toUrl: string): Promise<CopyCounts> {
  if (!isPostgresUrl(toUrl)) throw new MigrateError(`--to: not a PostgreSQL URL (postgres://USER@HOST/DATABASE)`);
  checkSource(fromPath);
  const source = await openStore(fromPath);
  let target: DbStore | undefined;
  try {
    try {
      target = await openStore(toUrl);
    } catch (err) {
      // openStore's message names --db; here the URL is --to's.
      if (err instanceof StoreOpenError) throw new MigrateError(`--to: ${err.message.replace(/^--db: /, '')}`);
      throw err;
    }
    const from = source.kysely as AnyDb;
    // One read transaction on SQLite: a snapshot, even if something still writes the file.
    return await from.transaction().execute((src) =>
      target!.kysely.transaction().execute(async (dst) => {
        const held = Object.entries(await counts(dst as unknown as AnyDb)).filter(([, n]) => n > 0);
        if (held.length) {
          throw new MigrateError(
            `--to: ${redactedUrl(toUrl)} already holds switchboard data (${held.map(([t, n]) => `${n} ${t}`).join(', ')}): migrate into an empty database`,
          );
        }
        const copied = {} as CopyCounts;
        for (const copy of COPIES) {
          copied[copy.table] = await (copy.table === 'job_log' ? copyLog : copyTable)(src, dst, copy);
        }
        // The next job or event PostgreSQL numbers must come after every copied one.
        for (const table of SEQUENCED) {
          await sql`select setval(pg_get_serial_sequence(${table}, 'seq'), coalesce(max(seq), 0) + 1, false) from ${sql.table(table)}`.execute(
            dst,
          );
        }
        return copied;
      }),
    );
  } finally {
    await target?.close();
    await source.close();
  }
}
