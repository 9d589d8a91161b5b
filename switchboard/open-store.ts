// Opens the store a `--db` value names: a postgres:// URL is PostgreSQL, anything else a SQLite
// file. PostgreSQL's driver loads only when it is used.

import { SqliteStore, type SqliteStoreOptions } from './sqlite-store.js';
import type { DbStore } from './db-store.js';

export type OpenStoreOptions = SqliteStoreOptions;

export function isPostgresUrl(db: string): boolean {
  return /^postgres(?:ql)?:\/\//i.test(db);
}

export async function openStore(db: string, opts: OpenStoreOptions = {}): Promise<DbStore> {
  if (isPostgresUrl(db)) return (await import('./pg-store.js')).openPostgresStore(db, opts);
  return SqliteStore.open(db, opts);
}
