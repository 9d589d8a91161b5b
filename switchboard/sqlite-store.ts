// The switchboard store over SQLite (better-sqlite3), the embedded default: one file, one
// connection, each distinct SQL text prepared once. Its transactions take turns on that connection
// (Kysely's SQLite driver holds it for a transaction's length).

import Database from 'better-sqlite3';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { CompiledQuery, Kysely, SqliteDialect } from 'kysely';
import { DbStore } from './db-store.js';
import { SQLITE_MIGRATIONS } from './migrations.js';
import type { Tables } from './schema.js';
import type { StoreDialect } from './store-dialect.js';
import { StoreOpenError } from './store.js';

export interface SqliteStoreOptions {
  /** Checkpoint the WAL from a worker thread every this many ms instead of inside commits. */
  backgroundCheckpointMs?: number;
  onWarning?: (message: string) => void;
}

// SQLite's result codes for a database that cannot be used now, whatever was asked of it.
const UNAVAILABLE = /^SQLITE_(?:FULL|IOERR|READONLY|BUSY|LOCKED|CANTOPEN|NOMEM)/;

const sqliteCode = (err: unknown): string | undefined => {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
};

export const sqliteDialect: StoreDialect = {
  name: 'sqlite',
  migrations: SQLITE_MIGRATIONS,
  rowLocks: false,
  // One connection per process, and SQLite's own file lock between processes (busy_timeout).
  lockForMigration: async () => {},
  readVersion: async (trx) =>
    (await trx.executeQuery<{ user_version: number }>(CompiledQuery.raw('pragma user_version'))).rows[0]!.user_version,
  writeVersion: async (trx, version) => {
    await trx.executeQuery(CompiledQuery.raw(`pragma user_version = ${Math.trunc(version)}`));
  },
  unavailableKind: (err) => {
    const code = sqliteCode(err);
    if (code === undefined || !UNAVAILABLE.test(code)) return null;
    return code.startsWith('SQLITE_FULL') ? 'full' : 'unavailable';
  },
  isConflict: (err) => /^SQLITE_CONSTRAINT_(?:UNIQUE|PRIMARYKEY)$/.test(sqliteCode(err) ?? ''),
  // A SQLite file has one switchboard: there is nobody to tell.
  notifyQuery: () => null,
  writeCombiner: null,
};

/**
 * better-sqlite3 as Kysely's SQLite driver uses it, with each distinct SQL text prepared once.
 * Transactions begin IMMEDIATE: one that read first and wrote later would otherwise fail at once
 * with SQLITE_BUSY when another connection (the checkpoint worker) held the lock, where waiting
 * (busy_timeout) does. A rollback after SQLite has rolled back on its own (as it does on
 * SQLITE_FULL) does nothing, so the error that ended the transaction is the one its caller sees.
 */
function cachingDatabase(conn: Database.Database) {
  const prepared = new Map<string, Database.Statement>();
  const rollback = conn.prepare('rollback');
  const ifOpen = {
    reader: false,
    run: () => (conn.inTransaction ? rollback.run() : { changes: 0, lastInsertRowid: 0 }),
    all: () => [],
    iterate: () => [][Symbol.iterator](),
  };
  return {
    close: () => conn.close(),
    prepare: (text: string) => {
      if (text === 'rollback') return ifOpen;
      const sql = text === 'begin' ? 'begin immediate' : text;
      let s = prepared.get(sql);
      if (!s) prepared.set(sql, (s = conn.prepare(sql)));
      return s;
    },
  };
}

export class SqliteStore extends DbStore {
  private checkpointer: Worker | null = null;

  private constructor(
    /** The connection, for storage-level tests. */
    readonly sql: Database.Database,
  ) {
    super(new Kysely<Tables>({ dialect: new SqliteDialect({ database: cachingDatabase(sql) }) }), sqliteDialect);
  }

  /** `path` is a file, or `:memory:` for a database that lives as long as the store. */
  static async open(path: string, opts: SqliteStoreOptions = {}): Promise<SqliteStore> {
    let conn: Database.Database;
    try {
      conn = new Database(path);
    } catch (err) {
      throw new StoreOpenError(`cannot open database ${path}: ${(err as Error).message}`);
    }
    // WAL with synchronous=NORMAL: a committed transaction is in the WAL file before the call
    // returns, so it survives the process being killed (kill -9); only an OS crash or power loss
    // can lose the last transactions.
    conn.pragma('journal_mode = WAL');
    conn.pragma('synchronous = NORMAL');
    conn.pragma('foreign_keys = ON');
    conn.pragma('busy_timeout = 5000');
    const store = new SqliteStore(conn);
    try {
      await store.migrate();
    } catch (err) {
      conn.close();
      throw err;
    }
    if (opts.backgroundCheckpointMs) store.startCheckpointer(path, opts.backgroundCheckpointMs, opts.onWarning);
    return store;
  }

  private startCheckpointer(path: string, intervalMs: number, onWarning?: (message: string) => void): void {
    // A checkpoint fsyncs the database file; inside a commit that stalls every request for
    // tens of milliseconds, so a serving switchboard leaves checkpoints to a worker thread.
    this.sql.pragma('wal_autocheckpoint = 0');
    this.checkpointer = new Worker(new URL('./checkpoint-worker.js', import.meta.url), {
      // 16384 frames of 4 KiB pages: the WAL stays around 64 MiB at most.
      workerData: { path, intervalMs, restartFrames: 16384 },
    });
    this.checkpointer.on('message', (m: string) => onWarning?.(m));
    this.checkpointer.on('error', (err) => onWarning?.(`checkpoint worker failed: ${err.message}`));
    this.checkpointer.unref();
  }

  /** Stops the checkpoint worker, then closes (the last connection's close checkpoints the WAL). */
  override async close(): Promise<void> {
    if (this.checkpointer) {
      const exited = once(this.checkpointer, 'exit');
      // Keep the process alive until the worker has closed its connection.
      this.checkpointer.ref();
      this.checkpointer.postMessage('stop');
      await exited;
      this.checkpointer = null;
    }
    await super.close();
  }
}
