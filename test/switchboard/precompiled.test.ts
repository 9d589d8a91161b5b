import test from 'ava';
import fc from 'fast-check';
import type { Kysely } from 'kysely';
import { PrecompiledQuery, precompiled } from '../../switchboard/precompiled.js';
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
