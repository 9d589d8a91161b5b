// The store's hottest queries, built and compiled once per database instead of on every call:
// building a Kysely query and compiling it to SQL cost more of a busy switchboard's time than
// the database driver. Each is a query of queries.ts whose shape does not depend on its arguments.

import { createQueryId, type CompiledQuery, type Compilable, type DialectAdapter, type Kysely } from 'kysely';
import { queries as q } from './queries.js';
import type { Tables } from './schema.js';

type Db = Kysely<Tables>;

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
  supervisorById: precompile((db, id: string) => q.supervisorById(db, id)),
  supervisorForUpdate: precompile((db, id: string) => q.supervisorById(db, id).forUpdate()),
  activeJobOn: precompile((db, supervisorId: string) => q.activeJobOn(db, supervisorId)),
  jobById: precompile((db, id: string) => q.jobById(db, id)),
  jobForUpdate: precompile((db, id: string) => q.jobById(db, id).forUpdate()),
  jobAndRequest: precompile((db, id: string) => q.jobAndRequest(db, id)),
  jobAndRequestForUpdate: precompile((db, id: string) => q.jobAndRequest(db, id).forUpdate()),
  eventCount: precompile((db, jobId: string) => q.eventCount(db, jobId)),
  insertLog: precompile((db, jobId: string, offset: number, data: Buffer) => q.insertLog(db, jobId, offset, data)),
  setLogBounds: precompile((db, jobId: string, start: number, end: number) => q.setLogBounds(db, jobId, start, end)),
  putConsoleTime: precompile((db, jobId: string, offset: number, at: number) =>
    q.putConsoleTime(db, { job_id: jobId, offset, at }),
  ),
};
