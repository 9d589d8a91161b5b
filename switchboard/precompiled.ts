// The store's hottest queries, built and compiled once per database instead of on every call:
// building a Kysely query and compiling it to SQL cost more of a busy switchboard's time than
// the database driver. Each is a query of queries.ts whose shape does not depend on its arguments.

import { createQueryId, type CompiledQuery, type Compilable, type DialectAdapter, type Kysely } from 'kysely';
import { JOB_COLUMNS, queries as q } from './queries.js';
import type { JobRow, Tables } from './schema.js';
import type { JobUpdate, NewJobEvent } from './store.js';

type Db = Kysely<Tables>;
type NewJobRow = Parameters<typeof q.insertJobs>[1][number];

interface Template {
  sql: string;
  query: CompiledQuery['query'];
  /** Per parameter: the index of the argument it takes, or the constant the query holds. */
  slots: Array<{ arg: number } | { value: unknown }>;
}

/** A query compiled once per database, with each call's arguments in its parameters' places. */
export class PrecompiledQuery<A extends unknown[], R> {
  private readonly templates = new WeakMap<DialectAdapter, Template>();

  constructor(private readonly build: (db: Db, ...args: A) => Compilable<R>) {}

  /** The query for these arguments, ready for DbStore's run/first/all. */
  with(db: Db, ...args: A): Compilable<R> {
    return { compile: () => this.compile(db, args) };
  }

  private compile(db: Db, args: A): CompiledQuery<R> {
    const adapter = db.getExecutor().adapter;
    let t = this.templates.get(adapter);
    if (!t) {
      // Compiled with a marker for each argument, to find where each one goes.
      const markers = args.map((_, i) => Symbol(`argument ${i}`));
      const c = this.build(db, ...(markers as unknown as A)).compile();
      const slots = c.parameters.map((p) => {
        const arg = markers.indexOf(p as symbol);
        return arg >= 0 ? { arg } : { value: p };
      });
      // An argument that shaped the query instead of filling a parameter cannot be precompiled.
      if (markers.some((_, i) => !slots.some((s) => 'arg' in s && s.arg === i)))
        throw new Error(`a precompiled query uses an argument in its shape: ${c.sql}`);
      t = { sql: c.sql, query: c.query, slots };
      this.templates.set(adapter, t);
    }
    return {
      sql: t.sql,
      query: t.query,
      queryId: createQueryId(),
      parameters: t.slots.map((s) => ('arg' in s ? args[s.arg] : s.value)),
    };
  }
}

const precompile = <A extends unknown[], R>(build: (db: Db, ...args: A) => Compilable<R>) =>
  new PrecompiledQuery(build);

export const precompiled = {
  tokenByHash: precompile((db, hash: Buffer) => q.tokenByHash(db, hash)),
  session: precompile((db, hash: Buffer) => q.session(db, hash)),
  supervisors: precompile((db) => q.supervisors(db)),
  supervisorById: precompile((db, id: string) => q.supervisorById(db, id)),
  supervisorForUpdate: precompile((db, id: string) => q.supervisorById(db, id).forUpdate()),
  activeJobOn: precompile((db, supervisorId: string) => q.activeJobOn(db, supervisorId)),
  jobById: precompile((db, id: string) => q.jobById(db, id)),
  jobForUpdate: precompile((db, id: string) => q.jobById(db, id).forUpdate()),
  jobAndRequest: precompile((db, id: string) => q.jobAndRequest(db, id)),
  jobAndRequestUnlessLocked: precompile((db, id: string) => q.jobAndRequest(db, id).forUpdate().skipLocked()),
  eventCount: precompile((db, jobId: string) => q.eventCount(db, jobId)),
  insertLog: precompile((db, jobId: string, offset: number, data: Buffer) => q.insertLog(db, jobId, offset, data)),
  setLogBounds: precompile((db, jobId: string, start: number, end: number) => q.setLogBounds(db, jobId, start, end)),
  putConsoleTime: precompile((db, jobId: string, offset: number, at: number) =>
    q.putConsoleTime(db, { job_id: jobId, offset, at }),
  ),
};

/**
 * A query of rows of `columns` (`rows` of them), its arguments the rows' values column by column:
 * built with one marker per value, so each lands in a parameter of its own.
 */
function precompileRows<R>(
  columns: readonly string[],
  rows: number,
  build: (db: Db, rows: Array<Record<string, unknown>>) => Compilable<R>,
): PrecompiledQuery<unknown[], R> {
  return new PrecompiledQuery((db, ...values: unknown[]) =>
    build(
      db,
      Array.from({ length: rows }, (_, r) =>
        Object.fromEntries(columns.map((c, i) => [c, values[r * columns.length + i]])),
      ),
    ),
  );
}

/** The values of `rows` column by column, or null if a row leaves one out (its default, or a different query). */
function valuesOf(columns: readonly string[], rows: object[]): unknown[] | null {
  const values: unknown[] = [];
  for (const row of rows)
    for (const c of columns) {
      const v = (row as Record<string, unknown>)[c];
      if (v === undefined) return null;
      values.push(v);
    }
  return values;
}

/** Every column of a new job's row, as insertJob names them: those a job row has, and its request. */
const JOB_COLUMNS_INSERTED = [
  ...JOB_COLUMNS.filter((c) => c !== 'seq' && c !== 'log_start' && c !== 'log_end'),
  'request',
] as const;
/** Most jobs one precompiled insert holds; more are inserted in as many statements. */
export const JOBS_PER_INSERT = 32;
const jobInserts = Array.from({ length: JOBS_PER_INSERT }, (_, i) =>
  precompileRows(JOB_COLUMNS_INSERTED, i + 1, (db, rows) => q.insertJobs(db, rows as unknown as NewJobRow[])),
);

/** The insert of up to JOBS_PER_INSERT new jobs' rows (every column named), precompiled. */
export function insertJobsQuery(db: Db, rows: NewJobRow[]): Compilable<JobRow> {
  const insert = jobInserts[rows.length - 1];
  const values = insert && valuesOf(JOB_COLUMNS_INSERTED, rows);
  return (insert && values ? insert.with(db, ...values) : q.insertJobs(db, rows)) as Compilable<JobRow>;
}

/** What updateJob writes: every field of a JobUpdate but its console bounds. */
const JOB_UPDATED = [
  'id',
  'state',
  'stage',
  'status_message',
  'exit_status',
  'exit_message',
  'supervisor_id',
  'scheduled_at',
  'updated_at',
  'terminated_at',
] as const satisfies ReadonlyArray<keyof JobUpdate>;
const LOG_BOUNDS = ['start', 'end'] as const;
const updateJob = precompileRows(JOB_UPDATED, 1, (db, [u]) => q.updateJob(db, u as unknown as JobUpdate));
const updateJobAndLog = precompileRows([...JOB_UPDATED, ...LOG_BOUNDS], 1, (db, [u]) =>
  q.updateJob(db, { ...(u as unknown as JobUpdate), log: { start: u!.start as number, end: u!.end as number } }),
);

/** The update of a job's row, with its console bounds or without, precompiled. */
export function updateJobQuery(db: Db, u: JobUpdate): Compilable<unknown> {
  const values = u.log ? valuesOf([...JOB_UPDATED, ...LOG_BOUNDS], [{ ...u, ...u.log }]) : valuesOf(JOB_UPDATED, [u]);
  if (!values) return q.updateJob(db, u);
  return (u.log ? updateJobAndLog : updateJob).with(db, ...values);
}

const EVENT_COLUMNS = ['job_id', 'at', 'kind', 'by', 'state', 'stage', 'status_message', 'exit_status'] as const;

/** Most events one precompiled insert holds; a larger batch is built as it comes. */
const PRECOMPILED_EVENT_ROWS = 32;
const eventInserts = Array.from({ length: PRECOMPILED_EVENT_ROWS }, (_, i) =>
  precompileRows(EVENT_COLUMNS, i + 1, (db, rows) => q.insertEvents(db, rows as unknown as NewJobEvent[])),
);

/** An insert of `events`: precompiled for up to PRECOMPILED_EVENT_ROWS of them that name every column. */
export function insertEventsQuery(db: Db, events: NewJobEvent[]): Compilable<unknown> {
  const insert = eventInserts[events.length - 1];
  const values = insert && valuesOf(EVENT_COLUMNS, events);
  return insert && values ? insert.with(db, ...values) : q.insertEvents(db, events);
}
