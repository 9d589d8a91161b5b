// Versioned schema, written with Kysely's schema builder so that every dialect gets the same
// tables from the same steps. Step N (0-based) takes a database at version N to N+1; the store runs
// each in its own transaction and records the version (SQLite: PRAGMA user_version), so a crash
// mid-migration leaves the previous version intact. Databases made before the builder (the first
// three steps as SQL text) are at version 3 and take the steps from there.

import { sql, type CompiledQuery, type Kysely, type RawBuilder } from 'kysely';

/** What a dialect spells its own way; everything else in a step is the builder's. */
export interface MigrationDialect {
  /** The column type of raw bytes (SQLite: blob; PostgreSQL: bytea). */
  bytes: 'blob' | 'bytea';
  /** Appended to tables keyed by their primary key alone (SQLite: WITHOUT ROWID). */
  clusteredTable: RawBuilder<unknown> | null;
  /** The value at top-level `key` of the JSON text in `column` (objects as JSON text). */
  jsonField(column: string, key: string): RawBuilder<unknown>;
}

export const SQLITE_MIGRATIONS: MigrationDialect = {
  bytes: 'blob',
  clusteredTable: sql`without rowid`,
  jsonField: (column, key) => sql`json_extract(${sql.ref(column)}, ${`$.${key}`})`,
};

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the schema changes under the steps
type Db = Kysely<any>;
type Step = (db: Db, d: MigrationDialect) => CompiledQuery[];

const clustered = <T extends { modifyEnd(m: RawBuilder<unknown>): T }>(b: T, d: MigrationDialect): T =>
  d.clusteredTable ? b.modifyEnd(d.clusteredTable) : b;

export const MIGRATIONS: readonly Step[] = [
  (db, d) => [
    db.schema
      .createTable('users')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull().unique())
      .addColumn('password_hash', 'text')
      .addColumn('is_admin', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('created_at', 'integer', (c) => c.notNull())
      .compile(),
    db.schema
      .createTable('api_tokens')
      .addColumn('token_hash', d.bytes, (c) => c.primaryKey())
      .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
      .addColumn('created_at', 'integer', (c) => c.notNull())
      .addColumn('expires_at', 'integer')
      .compile(),
    db.schema
      .createTable('supervisors')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull().unique())
      .addColumn('tags', 'text', (c) => c.notNull())
      .addColumn('token_hash', d.bytes, (c) => c.notNull())
      .addColumn('created_at', 'integer', (c) => c.notNull())
      .compile(),
    db.schema
      .createTable('jobs')
      // Enqueue order; jobs are never deleted.
      .addColumn('seq', 'integer', (c) => c.primaryKey())
      .addColumn('id', 'text', (c) => c.notNull().unique())
      .addColumn('owner_id', 'text', (c) => c.notNull().references('users.id'))
      .addColumn('request', 'text', (c) => c.notNull())
      .addColumn('tag_config', 'text', (c) => c.notNull())
      .addColumn('state', 'text', (c) => c.notNull())
      .addColumn('stage', 'text')
      .addColumn('status_message', 'text')
      .addColumn('exit_status', 'text')
      .addColumn('exit_message', 'text')
      .addColumn('supervisor_id', 'text', (c) => c.references('supervisors.id'))
      .addColumn('queued_at', 'integer', (c) => c.notNull())
      .addColumn('scheduled_at', 'integer')
      .addColumn('updated_at', 'integer', (c) => c.notNull())
      .addColumn('terminated_at', 'integer')
      .addColumn('log_start', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('log_end', 'integer', (c) => c.notNull().defaultTo(0))
      .compile(),
    db.schema.createIndex('jobs_active').on('jobs').column('state').where('state', '<>', 'terminated').compile(),
    db.schema.createIndex('jobs_owner').on('jobs').columns(['owner_id', 'seq']).compile(),
    db.schema
      .createTable('job_events')
      .addColumn('seq', 'integer', (c) => c.primaryKey())
      .addColumn('job_id', 'text', (c) => c.notNull())
      .addColumn('at', 'integer', (c) => c.notNull())
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('by', 'text', (c) => c.notNull())
      .addColumn('state', 'text', (c) => c.notNull())
      .addColumn('stage', 'text')
      .addColumn('status_message', 'text')
      .addColumn('exit_status', 'text')
      .compile(),
    db.schema.createIndex('job_events_job').on('job_events').columns(['job_id', 'seq']).compile(),
    clustered(
      db.schema
        .createTable('job_log')
        .addColumn('job_id', 'text', (c) => c.notNull())
        .addColumn('offset', 'integer', (c) => c.notNull())
        .addColumn('data', d.bytes, (c) => c.notNull())
        .addPrimaryKeyConstraint('job_log_pk', ['job_id', 'offset']),
      d,
    ).compile(),
  ],
  // Upstream's wire name for the book's SupervisorHostStartError.
  (db) =>
    ['jobs', 'job_events'].map((table) =>
      db
        .updateTable(table)
        .set({ exit_status: 'supervisor_host_start_failure' })
        .where('exit_status', '=', 'supervisor_host_start_error')
        .compile(),
    ),
  // Login by user name or e-mail, as upstream's `user_identifier`. API tokens become upstream's 128
  // bytes: the 32-byte ones stored so far can no longer be presented, so they go.
  (db) => [
    db.schema.alterTable('users').addColumn('email', 'text').compile(),
    db.schema
      .createIndex('users_email')
      .on('users')
      .unique()
      .expression(sql`lower(email)`)
      .where(sql.ref('email'), 'is not', null)
      .compile(),
    db.deleteFrom('api_tokens').compile(),
  ],
  // What a job listing shows of a request, in columns of its own: a listing then reads no request
  // (each up to 1 MiB).
  (db, d) => [
    db.schema
      .alterTable('jobs')
      .addColumn('init_spec', 'text', (c) => c.notNull().defaultTo('{}'))
      .compile(),
    db.schema.alterTable('jobs').addColumn('restart_of', 'text').compile(),
    db.schema.alterTable('jobs').addColumn('override_timeout', 'integer').compile(),
    db
      .updateTable('jobs')
      .set({
        init_spec: d.jsonField('request', 'init_spec'),
        restart_of: d.jsonField('request', 'restart_of'),
        override_timeout: d.jsonField('request', 'override_timeout'),
      })
      .compile(),
  ],
  // `tml-switchboard user lock`.
  (db) => [db.schema.alterTable('users').addColumn('locked_at', 'integer').compile()],
  // The web console's tables, which it created itself before the store had them (hence IF NOT EXISTS).
  (db, d) => [
    clustered(
      db.schema
        .createTable('web_sessions')
        .ifNotExists()
        .addColumn('token_hash', d.bytes, (c) => c.primaryKey())
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('created_at', 'integer', (c) => c.notNull())
        .addColumn('expires_at', 'integer', (c) => c.notNull()),
      d,
    ).compile(),
    db.schema.createIndex('web_sessions_user').ifNotExists().on('web_sessions').column('user_id').compile(),
    clustered(
      db.schema
        .createTable('web_console_times')
        .ifNotExists()
        .addColumn('job_id', 'text', (c) => c.notNull())
        .addColumn('offset', 'integer', (c) => c.notNull())
        .addColumn('at', 'integer', (c) => c.notNull())
        .addPrimaryKeyConstraint('web_console_times_pk', ['job_id', 'offset']),
      d,
    ).compile(),
  ],
];
