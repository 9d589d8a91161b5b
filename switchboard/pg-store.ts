// The switchboard store over PostgreSQL (pg): what PostgreSQL does its own way under the one store
// (the schema version in a table, an advisory lock for replicas migrating at once, which SQLSTATEs
// mean the database cannot be used now), and opening a pool of connections from a URL.

import {
  CompiledQuery,
  Kysely,
  PostgresDialect,
  sql,
  type PostgresPool,
  type PostgresPoolClient,
  type Transaction,
} from 'kysely';
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { combinable, combineWrites } from './combined-write.js';
import { DbStore } from './db-store.js';
import { POSTGRES_MIGRATIONS } from './migrations.js';
import type { Tables } from './schema.js';
import type { ChangeFeed, FeedMessage, FeedNotice } from './change-feed.js';
import { encodeNotice, noticePrefix, parseNotice } from './change-feed.js';
import type { StoreDialect } from './store-dialect.js';
import { StoreOpenError } from './store.js';

/** The advisory lock key the switchboards of one database migrate under ("tml_sb"). */
const MIGRATION_LOCK = 0x746d6c5f7362;

const INT8_OID = 20;

/** The NOTIFY channel of the change feed (change-feed.ts). */
const FEED_CHANNEL = 'tml_switchboard';

/** The change feed's connection comes back after this long, doubling to the most. */
const FEED_RETRY_MS = { first: 250, most: 10_000 };

/** How long opening a connection (or waiting for a free one) may take. */
const CONNECT_TIMEOUT_MS = 10_000;

// count(*), max() of a bigint column and bigint columns themselves (times in ms, byte offsets) come
// as int8, which pg gives as strings lest it lose precision past 2^53; ours never get there.
const types: pg.CustomTypesConfig = {
  getTypeParser: (oid, format) =>
    oid === INT8_OID && format !== 'binary' ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format),
};

// Node's errors for a server that cannot be reached, or that went away.
const UNREACHABLE: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ETIMEDOUT: 'timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host not found (DNS lookup failed)',
  EPIPE: 'connection closed',
  ENOENT: 'no server socket there',
};

// pg's own messages for a connection that broke or never came.
const CONNECTION_LOST = /^Connection terminated|^timeout exceeded when trying to connect|is not queryable/;

/** The first of `err` and (an AggregateError's) the errors inside it that has a string code. */
function codeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string') return code;
  const inner = (err as { errors?: unknown } | null)?.errors;
  return Array.isArray(inner) ? inner.map(codeOf).find((c) => c !== undefined) : undefined;
}

export const postgresDialect: StoreDialect = {
  name: 'postgres',
  migrations: POSTGRES_MIGRATIONS,
  rowLocks: true,

  async lockForMigration(trx: Transaction<Tables>) {
    await sql`select pg_advisory_xact_lock(${sql.lit(MIGRATION_LOCK)})`.execute(trx);
  },

  async readVersion(trx: Transaction<Tables>) {
    // No table yet is a database no switchboard has used: version 0. Asking first keeps a failed
    // select from aborting the transaction.
    const { rows } = await sql<{ t: string | null }>`select to_regclass('tml_schema') as t`.execute(trx);
    if (rows[0]?.t == null) return 0;
    const version = await sql<{ version: number }>`select version from tml_schema`.execute(trx);
    return version.rows[0]?.version ?? 0;
  },

  async writeVersion(trx: Transaction<Tables>, version: number) {
    // One row, made to stay one: `one` is its key and can only be true.
    await sql`create table if not exists tml_schema (one boolean primary key default true check (one), version integer not null)`.execute(
      trx,
    );
    await sql`insert into tml_schema (version) values (${version}) on conflict (one) do update set version = excluded.version`.execute(
      trx,
    );
  },

  unavailableKind(err: unknown) {
    const code = codeOf(err);
    if (code !== undefined) {
      if (code === '53100') return 'full'; // disk_full
      // insufficient resources (memory, connections), connection exceptions, the server shutting
      // down or starting, system I/O errors, and a read-only server (a standby, or one made read-only).
      if (/^(?:53|08|58)/.test(code) || ['57P01', '57P02', '57P03', '25006'].includes(code)) return 'unavailable';
      if (code in UNREACHABLE) return 'unavailable';
    }
    if (err instanceof Error && CONNECTION_LOST.test(err.message)) return 'unavailable';
    return null;
  },

  isConflict: (err: unknown) => codeOf(err) === '23505', // unique_violation, primary keys included

  notifyQuery(payloads: string[]) {
    if (payloads.length === 0) return null;
    // One statement for all of them, the same text for as many payloads (so prepared once,
    // `preparing` below), and needing no query builder.
    const calls = payloads.map((_, i) => `pg_notify($1, $${i + 2})`).join(', ');
    return CompiledQuery.raw(`select ${calls}`, [FEED_CHANNEL, ...payloads]);
  },

  writeCombiner: { combinable, combine: combineWrites },
};

export interface PostgresConnectOptions {
  /** Connections the switchboard keeps open at most. */
  maxConnections?: number;
  /** Told of errors on idle connections (the server restarted, the network broke). */
  onWarning?: (message: string) => void;
}

/** Where `url` points, for messages (never its password), or a StoreOpenError for a URL that is none. */
function serverOf(url: string): { where: string; password: string } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new StoreOpenError('--db: not a PostgreSQL URL (postgres://USER@HOST[:PORT]/DATABASE)');
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') {
    throw new StoreOpenError(`--db: not a PostgreSQL URL (postgres://USER@HOST[:PORT]/DATABASE): ${u.protocol}`);
  }
  const socket = u.searchParams.get('host');
  const where = socket ?? `${u.hostname || 'localhost'}:${u.port || '5432'}`;
  return { where, password: decodeURIComponent(u.password) };
}

/** Why a connection failed, in a few words. */
function reason(err: unknown, password: string): string {
  const code = codeOf(err);
  if (code !== undefined && code in UNREACHABLE) return UNREACHABLE[code]!;
  if (err instanceof Error && /timeout/i.test(err.message)) return 'timed out';
  if (err instanceof Error && /^Connection terminated/.test(err.message)) return 'the server closed the connection';
  const message = (err instanceof Error ? err.message : String(err)).split('\n')[0]!;
  return password ? message.split(password).join('***') : message;
}

/**
 * A Kysely instance over a pool of connections to the database at `url`, once one connection to it
 * has worked: an unreachable server or a refused login is a one-line StoreOpenError.
 */
export async function connectPostgres(url: string, opts: PostgresConnectOptions = {}): Promise<Kysely<Tables>> {
  const { where, password } = serverOf(url);
  const pool = new pg.Pool({
    connectionString: url,
    max: opts.maxConnections ?? 10,
    types,
    // A request waits this long for a connection; past it the store is unavailable, not hung.
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    application_name: 'tml-switchboard',
  });
  // An unheard 'error' event ends the process. An idle connection's error is emitted on the pool.
  // One handed out just before its end reached it has no listener of the pool's: its error reaches
  // the query it was taken for ("not queryable"), so the listener of its own need not report it.
  pool.on('error', (err) => opts.onWarning?.(`PostgreSQL at ${where}: ${reason(err, password)}`));
  pool.on('connect', (client) => client.on('error', () => {}));
  const started = Date.now();
  try {
    const client = await pool.connect();
    try {
      const { rows } = await client.query<{ server_version_num: string }>('show server_version_num');
      const version = Number(rows[0]?.server_version_num);
      // Identity columns are PostgreSQL 10's.
      if (version < 100000)
        throw new Error(`PostgreSQL ${Math.floor(version / 10000)} is too old: 10 or newer is needed`);
    } finally {
      client.release();
    }
  } catch (err) {
    await pool.end().catch(() => {});
    // A pool's connection timeout ends the connection, and pg reports only that it ended.
    const why =
      Date.now() - started >= CONNECT_TIMEOUT_MS
        ? `no answer in ${CONNECT_TIMEOUT_MS / 1000} s`
        : reason(err, password);
    throw new StoreOpenError(`cannot connect to PostgreSQL at ${where}: ${why}`);
  }
  return new Kysely<Tables>({ dialect: new PostgresDialect({ pool: preparing(pool) }) });
}

/** Distinct statements prepared at most; past these (multi-row variants), statements are parsed each time. */
const MAX_PREPARED = 500;

/**
 * `pool`, each statement prepared once per connection and named by its text: the server parses
 * and plans the same query once, not on every call (a third of its time on the switchboard's
 * hot path). The texts are Kysely's, so a name always means the same statement.
 */
function preparing(pool: pg.Pool): PostgresPool {
  const names = new Map<string, string>();
  const nameOf = (text: string): string | undefined => {
    let name = names.get(text);
    if (name === undefined && names.size < MAX_PREPARED) names.set(text, (name = `tml_${names.size}`));
    return name;
  };
  return {
    async connect(): Promise<PostgresPoolClient> {
      const client = await pool.connect();
      return {
        // Kysely passes a cursor only to a dialect configured with one; this one is not.
        query: ((text: string, values: unknown[]) => {
          const name = nameOf(text);
          return name === undefined ? client.query(text, values) : client.query({ name, text, values });
        }) as unknown as PostgresPoolClient['query'],
        release: (destroy?: boolean) => client.release(destroy),
      };
    },
    end: () => pool.end(),
  };
}

/**
 * The store over the PostgreSQL database at `url`, its schema brought up to date (switchboards
 * starting together take turns). Whatever stops it is a one-line StoreOpenError.
 */
export async function openPostgresStore(url: string, opts: PostgresConnectOptions = {}): Promise<DbStore> {
  const db = await connectPostgres(url, opts);
  try {
    return await DbStore.connect(db, postgresDialect);
  } catch (err) {
    await db.destroy();
    if (err instanceof StoreOpenError) throw err;
    // Most often the user may not create tables (PostgreSQL 15 lets only the database's owner
    // create in its public schema).
    const { where, password } = serverOf(url);
    throw new StoreOpenError(`cannot migrate the PostgreSQL database at ${where}: ${reason(err, password)}`);
  }
}

/**
 * The change feed over LISTEN/NOTIFY: one connection of its own listens; notices go out through
 * the store's pool. A lost connection is opened again, and its subscriber told to read afresh.
 */
export class PostgresFeed implements ChangeFeed {
  readonly replica = randomUUID();
  private client: pg.Client | null = null;
  private closed = false;
  private retryMs = 0;
  private timer: NodeJS.Timeout | null = null;
  private onNotice: (m: FeedMessage) => void = () => {};
  private onResync: () => void = () => {};

  private constructor(
    private readonly url: string,
    private readonly db: Kysely<Tables>,
    private readonly warn: (message: string) => void,
  ) {}

  /** Listening before it returns, so nothing committed after it is missed. */
  static async start(url: string, db: Kysely<Tables>, warn: (message: string) => void): Promise<PostgresFeed> {
    const feed = new PostgresFeed(url, db, warn);
    await feed.listen();
    return feed;
  }

  subscribe(onNotice: (m: FeedMessage) => void, onResync: () => void): void {
    this.onNotice = onNotice;
    this.onResync = onResync;
  }

  async publish(notice: FeedNotice): Promise<void> {
    await this.db.executeQuery(postgresDialect.notifyQuery([encodeNotice(this.replica, notice)])!);
  }

  private async listen(): Promise<void> {
    const client = new pg.Client({ connectionString: this.url, application_name: 'tml-switchboard feed' });
    const own = noticePrefix(this.replica);
    client.on('notification', (n) => {
      if (n.channel !== FEED_CHANNEL || n.payload === undefined || n.payload.startsWith(own)) return;
      let m: FeedMessage;
      try {
        m = parseNotice(n.payload);
      } catch (err) {
        this.warn(`change feed: ignored a notice: ${(err as Error).message}`);
        return;
      }
      if (m.from !== this.replica) this.onNotice(m);
    });
    const lost = (why: string) => {
      if (this.client !== client) return;
      this.client = null;
      client.end().catch(() => {});
      if (this.closed) return;
      this.warn(`change feed: ${why}; listening again soon`);
      this.again();
    };
    client.on('error', (err) => lost(err.message));
    client.on('end', () => lost('the connection ended'));
    await client.connect();
    await client.query(`listen ${FEED_CHANNEL}`);
    this.client = client;
    this.retryMs = 0;
  }

  private again(): void {
    this.retryMs = Math.min(FEED_RETRY_MS.most, this.retryMs === 0 ? FEED_RETRY_MS.first : this.retryMs * 2);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.listen().then(
        () => this.onResync(),
        (err: unknown) => {
          this.warn(`change feed: cannot listen: ${(err as Error).message}`);
          if (!this.closed) this.again();
        },
      );
    }, this.retryMs);
    this.timer.unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    const client = this.client;
    this.client = null;
    await client?.end().catch(() => {});
  }
}
