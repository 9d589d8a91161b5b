import test from 'ava';
import { CompiledQuery } from 'kysely';
import { combinable, combineWrites } from '../../switchboard/combined-write.js';

const update = CompiledQuery.raw('update "jobs" set "state" = $1 where "id" = $2', ['ready', 'j1']);
const insert = CompiledQuery.raw('insert into "job_events" ("job_id", "at") values ($1, $2), ($3, $4)', [
  'j1',
  1,
  'j1',
  2,
]);
const notices = CompiledQuery.raw('select pg_notify($1, $2)', ['channel', 'payload']);

test('writes combine into WITH queries, their parameters renumbered in order', (t) => {
  const c = combineWrites([update, insert]);
  t.is(
    c.sql,
    'with w0 as (update "jobs" set "state" = $1 where "id" = $2) ' +
      'insert into "job_events" ("job_id", "at") values ($3, $4), ($5, $6)',
  );
  t.deepEqual(c.parameters, ['ready', 'j1', 'j1', 1, 'j1', 2]);
});

test("the notices' select is the statement's own query, wherever it was in the writes", (t) => {
  const c = combineWrites([notices, update]);
  t.is(c.sql, 'with w0 as (update "jobs" set "state" = $1 where "id" = $2) select pg_notify($3, $4)');
  t.deepEqual(c.parameters, ['ready', 'j1', 'channel', 'payload']);
});

test('placeholders past $9 are renumbered whole', (t) => {
  const ten = Array.from({ length: 10 }, (_, i) => `$${i + 1}`).join(', ');
  const c = combineWrites([update, CompiledQuery.raw(`insert into "t" values (${ten})`, Array(10).fill(0))]);
  t.true(c.sql.endsWith('values ($3, $4, $5, $6, $7, $8, $9, $10, $11, $12)'));
});

test('two selects never combine: one of them would not run', (t) => {
  t.throws(() => combineWrites([notices, notices]), { message: /at most one select/ });
});

test('a query with a literal, whose text a renumbering could change, is not combinable', (t) => {
  t.true(combinable(update));
  t.true(combinable(notices));
  t.false(combinable(CompiledQuery.raw(`update "jobs" set "state" = 'x$1' where "id" = $1`, ['j'])));
  t.false(combinable(CompiledQuery.raw('insert into "t" values ($$a$$)', [])));
  t.false(combinable(CompiledQuery.raw('with x as (select 1) update "t" set "a" = $1', [1])));
});
