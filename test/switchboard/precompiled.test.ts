import test from 'ava';
import fc from 'fast-check';
import type { Kysely } from 'kysely';
import {
  insertEventsQuery,
  insertJobsQuery,
  PrecompiledQuery,
  precompiled,
  updateJobQuery,
} from '../../switchboard/precompiled.js';
import { queries } from '../../switchboard/queries.js';
import type { Tables } from '../../switchboard/schema.js';
import { compileOnlyPostgres, compileOnlySqlite } from './compile-only.js';

// Compile only: what a query becomes in each dialect.
const engines = { sqlite: compileOnlySqlite<Tables>(), postgres: compileOnlyPostgres<Tables>() };

const sqlAndParameters = (c: { sql: string; parameters: readonly unknown[] }) => ({
  sql: c.sql,
  parameters: c.parameters,
});

test('a precompiled query compiles, call after call, to what building it afresh gives, in each dialect', (t) => {
  fc.assert(
    fc.property(fc.string(), fc.nat(), fc.nat(), fc.uint8Array({ maxLength: 8 }), (id, a, b, bytes) => {
      const data = Buffer.from(bytes);
      for (const db of Object.values(engines)) {
        const pairs = [
          [precompiled.jobForUpdate.with(db, id), queries.jobById(db, id).forUpdate()],
          [precompiled.activeJobOn.with(db, id), queries.activeJobOn(db, id)],
          [precompiled.jobAndRequestUnlessLocked.with(db, id), queries.jobAndRequest(db, id).forUpdate().skipLocked()],
          [precompiled.supervisors.with(db), queries.supervisors(db)],
          [precompiled.insertLog.with(db, id, a, data), queries.insertLog(db, id, a, data)],
          [precompiled.setLogBounds.with(db, id, a, b), queries.setLogBounds(db, id, a, b)],
          [precompiled.putConsoleTime.with(db, id, a, b), queries.putConsoleTime(db, { job_id: id, offset: a, at: b })],
        ] as const;
        for (const [p, built] of pairs) t.deepEqual(sqlAndParameters(p.compile()), sqlAndParameters(built.compile()));
      }
    }),
    { numRuns: 50 },
  );
});

test('a query that does not take each argument as a parameter cannot be precompiled', (t) => {
  // As when an argument picks a column or a branch instead of filling a value.
  const shaped = new PrecompiledQuery((db: Kysely<Tables>, _name: string) => queries.users(db));
  t.throws(() => shaped.with(engines.sqlite, 'alice').compile(), { message: /uses an argument in its shape/ });
});

const nullable = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: null });
const jobUpdate = fc.record({
  id: fc.uuid(),
  state: fc.constantFrom('queued', 'scheduled', 'ready', 'terminated' as const),
  stage: nullable(fc.constantFrom('starting', 'booting' as const)),
  status_message: nullable(fc.string()),
  exit_status: nullable(fc.constantFrom('workload_finished_success' as const)),
  exit_message: nullable(fc.string()),
  supervisor_id: nullable(fc.uuid()),
  scheduled_at: nullable(fc.nat()),
  updated_at: fc.nat(),
  terminated_at: nullable(fc.nat()),
  log: fc.option(fc.record({ start: fc.nat(), end: fc.nat() }), { nil: undefined }),
});
const jobEvent = fc.record({
  job_id: fc.uuid(),
  at: fc.nat(),
  kind: fc.constantFrom('state', 'exit_status' as const),
  by: fc.constantFrom('switchboard', 'supervisor' as const),
  state: fc.constantFrom('queued', 'ready' as const),
  stage: nullable(fc.constantFrom('booting' as const)),
  status_message: nullable(fc.string()),
  exit_status: nullable(fc.constantFrom('job_canceled' as const)),
});
const newJob = fc.record({
  id: fc.uuid(),
  owner_id: fc.uuid(),
  tag_config: fc.string(),
  state: fc.constant('queued' as const),
  stage: fc.constant(null),
  status_message: fc.constant(null),
  exit_status: fc.constant(null),
  exit_message: fc.constant(null),
  supervisor_id: fc.constant(null),
  queued_at: fc.nat(),
  scheduled_at: fc.constant(null),
  updated_at: fc.nat(),
  terminated_at: fc.constant(null),
  init_spec: fc.json(),
  restart_of: nullable(fc.uuid()),
  override_timeout: nullable(fc.nat()),
  request: fc.json(),
});

test('the precompiled writes of rows (new jobs, an update, events) compile to what building them gives', (t) => {
  fc.assert(
    fc.property(
      fc.array(newJob, { minLength: 1, maxLength: 40 }),
      jobUpdate,
      fc.array(jobEvent, { minLength: 1, maxLength: 40 }),
      (jobs, update, events) => {
        for (const db of Object.values(engines)) {
          const pairs = [
            [insertJobsQuery(db, jobs), queries.insertJobs(db, jobs)],
            [updateJobQuery(db, update), queries.updateJob(db, update)],
            [insertEventsQuery(db, events), queries.insertEvents(db, events)],
          ] as const;
          for (const [p, built] of pairs) t.deepEqual(sqlAndParameters(p.compile()), sqlAndParameters(built.compile()));
        }
      },
    ),
    { numRuns: 100 },
  );
});
