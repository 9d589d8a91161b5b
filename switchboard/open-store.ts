// Opens the store a `--db` value names: a postgres:// URL is PostgreSQL, anything else a SQLite
// file. Each engine's driver loads only when it is used.

import type { ChangeFeed } from './change-feed.js';
import type { DbStore } from './db-store.js';
import type { SqliteStoreOptions } from './sqlite-store.js';

export type OpenStoreOptions = SqliteStoreOptions;

/** Whether `--db` names a PostgreSQL database rather than a SQLite file. */
export function isPostgresUrl(db: string): boolean {
  return /^postgres(?:ql)?:\/\//i.test(db);
}

/** `--db` as logs and messages may show it: a PostgreSQL URL without its password. */
export function redactedUrl(url: string): string {
  if (!isPostgresUrl(url)) return url;
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'postgres://…';
  }
}

export async function openStore(db: string, opts: OpenStoreOptions = {}): Promise<DbStore> {
  if (!isPostgresUrl(db)) {
    const { SqliteStore } = await import('./sqlite-store.js');
    return SqliteStore.open(db, opts);
  }
  const { openPostgresStore } = await import('./pg-store.js');
  return openPostgresStore(db, { ...(opts.onWarning && { onWarning: opts.onWarning }) });
}

/** How the switchboards on the database `db` reach each other; none for a SQLite file (one switchboard). */
export async function openFeed(
  db: string,
  store: DbStore,
  warn: (message: string) => void,
): Promise<ChangeFeed | null> {
  if (!isPostgresUrl(db)) return null;
  const { PostgresFeed } = await import('./pg-store.js');
  return PostgresFeed.start(db, store.kysely, warn);
}
