// Versioned schema, written with Kysely's schema builder so that every dialect gets the same
// tables from the same steps. Step N (0-based) takes a database at version N to N+1; the store runs
// each in its own transaction and records the version (SQLite: PRAGMA user_version; PostgreSQL: the
// table tml_schema, pg-store.ts), so a crash mid-migration leaves the previous version intact.
// SQLite databases made before the builder (the first three steps as SQL text) are at version 3 and
// take the steps from there.
//
// SQLite databases made by these steps exist in the field, so what SQLITE_MIGRATIONS makes of a
// step never changes (test/switchboard/migrations.test.ts pins its SQL); a new need is a new step.

import { sql, type ColumnDefinitionBuilder, type CompiledQuery, type Kysely, type RawBuilder } from 'kysely';

/** What a dialect spells its own way; everything else in a step is the builder's. */
export interface MigrationDialect {
  /** The column type of raw bytes (SQLite: blob; PostgreSQL: bytea). */
  bytes: 'blob' | 'bytea';
  /**
   * The column type of millisecond times and byte offsets, which outgrow 32 bits (SQLite's integer
   * is 64 bits; PostgreSQL's is 32, so bigint).
   */
  int64: 'integer' | 'bigint';
  /** The column type of names listed in order: text sorted byte by byte, as SQLite sorts it. */
  sortedText: 'text' | RawBuilder<unknown>;
  /** Makes a column of type int64 the key that numbers rows in insertion order. */
  sequenceKey: (c: ColumnDefinitionBuilder) => ColumnDefinitionBuilder;
  /** Appended to tables keyed by their primary key alone (SQLite: WITHOUT ROWID). */
  clusteredTable: RawBuilder<unknown> | null;
  /** The value at top-level `key` of the JSON text in `column` (objects as JSON text), as a column of `type`. */
  jsonField(column: string, key: string, type: 'text' | 'int64'): RawBuilder<unknown>;
}

export const SQLITE_MIGRATIONS: MigrationDialect = {
  bytes: 'blob',
  int64: 'integer',
  sortedText: 'text',
  // `integer primary key` is the rowid itself: new rows get the next number.
  sequenceKey: (c) => c.primaryKey(),
  clusteredTable: sql`without rowid`,
  // json_extract gives integers as integers and objects as their JSON text (minified).
  jsonField: (column, key) => sql`json_extract(${sql.ref(column)}, ${`$.${key}`})`,
};

export const POSTGRES_MIGRATIONS: MigrationDialect = {
  bytes: 'bytea',
  int64: 'bigint',
  // Not the database's collation, which may put "B" after "a".
  sortedText: sql`text collate "C"`,
  // By default, not always: a row written with its seq (a copy of a database) keeps it.
  sequenceKey: (c) => c.generatedByDefaultAsIdentity().primaryKey(),
  // A table is a heap with its primary key as an index either way.
  clusteredTable: null,
  // `json`, not `jsonb`: ->> then gives an object as the text it was written as (the JSON.stringify
  // the store wrote, as SQLite gives it), where jsonb would respace and reorder its keys.
  jsonField: (column, key, type) => {
    const text = sql`(${sql.ref(column)}::json ->> ${sql.lit(key)})`;
    return type === 'int64' ? sql`cast(${text} as bigint)` : text;
  },
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
      .addColumn('name', d.sortedText, (c) => c.notNull().unique())
      .addColumn('password_hash', 'text')
      .addColumn('is_admin', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('created_at', d.int64, (c) => c.notNull())
      .compile(),
    db.schema
      .createTable('api_tokens')
      .addColumn('token_hash', d.bytes, (c) => c.primaryKey())
      .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
      .addColumn('created_at', d.int64, (c) => c.notNull())
      .addColumn('expires_at', d.int64)
      .compile(),
    db.schema
      .createTable('supervisors')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('name', d.sortedText, (c) => c.notNull().unique())
      .addColumn('tags', 'text', (c) => c.notNull())
      .addColumn('token_hash', d.bytes, (c) => c.notNull())
      .addColumn('created_at', d.int64, (c) => c.notNull())
      .compile(),
    db.schema
      .createTable('jobs')
      // Enqueue order; jobs are never deleted.
      .addColumn('seq', d.int64, d.sequenceKey)
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
      .addColumn('queued_at', d.int64, (c) => c.notNull())
      .addColumn('scheduled_at', d.int64)
      .addColumn('updated_at', d.int64, (c) => c.notNull())
      .addColumn('terminated_at', d.int64)
      .addColumn('log_start', d.int64, (c) => c.notNull().defaultTo(0))
      .addColumn('log_end', d.int64, (c) => c.notNull().defaultTo(0))
      .compile(),
    db.schema.createIndex('jobs_active').on('jobs').column('state').where('state', '<>', 'terminated').compile(),
    db.schema.createIndex('jobs_owner').on('jobs').columns(['owner_id', 'seq']).compile(),
    db.schema
      .createTable('job_events')
      .addColumn('seq', d.int64, d.sequenceKey)
      .addColumn('job_id', 'text', (c) => c.notNull())
      .addColumn('at', d.int64, (c) => c.notNull())
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
        .addColumn('offset', d.int64, (c) => c.notNull())
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
    db.schema.alterTable('jobs').addColumn('override_timeout', d.int64).compile(),
    db
      .updateTable('jobs')
      .set({
        init_spec: d.jsonField('request', 'init_spec', 'text'),
        restart_of: d.jsonField('request', 'restart_of', 'text'),
        override_timeout: d.jsonField('request', 'override_timeout', 'int64'),
      })
      .compile(),
  ],
  // `tml-switchboard user lock`.
  (db, d) => [db.schema.alterTable('users').addColumn('locked_at', d.int64).compile()],
  // The web console's tables, which it created itself before the store had them (hence IF NOT EXISTS).
  (db, d) => [
    clustered(
      db.schema
        .createTable('web_sessions')
        .ifNotExists()
        .addColumn('token_hash', d.bytes, (c) => c.primaryKey())
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('created_at', d.int64, (c) => c.notNull())
        .addColumn('expires_at', d.int64, (c) => c.notNull()),
      d,
    ).compile(),
    db.schema.createIndex('web_sessions_user').ifNotExists().on('web_sessions').column('user_id').compile(),
    clustered(
      db.schema
        .createTable('web_console_times')
        .ifNotExists()
        .addColumn('job_id', 'text', (c) => c.notNull())
        .addColumn('offset', d.int64, (c) => c.notNull())
        .addColumn('at', d.int64, (c) => c.notNull())
        .addPrimaryKeyConstraint('web_console_times_pk', ['job_id', 'offset']),
      d,
    ).compile(),
  ],
  // The job a supervisor runs, found among the jobs in progress rather than all it ever ran: the
  // check before every start_job.
  (db) => [
    db.schema
      .createIndex('jobs_supervisor_active')
      .on('jobs')
      .column('supervisor_id')
      .where(sql.ref('state'), '<>', 'terminated')
      .compile(),
  ],
];
