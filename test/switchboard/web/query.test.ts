import test from 'ava';
import fc from 'fast-check';
import { ValidationError } from '../../../protocol/validation.js';
import { listQueryString, parseListQuery } from '../../../switchboard/web/query.js';

test('empty fields mean no filter', (t) => {
  t.deepEqual(parseListQuery({ state: '', exit: '', user: ' ', tag: '' }).filter, {});
  t.deepEqual(parseListQuery(undefined).filter, {});
});

test('every filter is parsed', (t) => {
  const q = parseListQuery({
    state: 'terminated',
    exit: 'job_canceled',
    user: 'alice',
    supervisor: 'sup-1',
    tag: 'board:x',
    image: 'abcd',
    from: '2026-05-01',
    until: '2026-05-01',
    cursor: '42',
  });
  t.deepEqual(q.filter, {
    state: 'terminated',
    exitStatus: 'job_canceled',
    owner: 'alice',
    supervisor: 'sup-1',
    tag: 'board:x',
    image: 'abcd',
    queuedFrom: Date.UTC(2026, 4, 1),
    queuedUntil: Date.UTC(2026, 4, 2),
  });
  t.is(q.cursor, '42');
  t.is(parseListQuery({ from: '2026-05-01T14:30' }).filter.queuedFrom, Date.UTC(2026, 4, 1, 14, 30));
});

test('bad values are refused with a message naming the field', (t) => {
  for (const [q, re] of [
    [{ state: 'running' }, /state must be one of/],
    [{ exit: 'ok' }, /exit status/],
    [{ image: 'xyz' }, /image/],
    [{ from: 'yesterday' }, /from must be/],
    [{ until: '2026-02-30' }, /until is not a real date/],
    [{ cursor: 'abc' }, /cursor/],
    [{ tag: ['a', 'b'] }, /tag must be given once/],
  ] as const)
    t.throws(() => parseListQuery(q), { instanceOf: ValidationError, message: re });
});

test('any query gives a query or a validation error', (t) => {
  fc.assert(
    fc.property(
      fc.dictionary(
        fc.constantFrom('state', 'exit', 'user', 'image', 'from', 'until', 'cursor', 'x'),
        fc.oneof(fc.string(), fc.array(fc.string()), fc.integer()),
      ),
      (q) => {
        try {
          parseListQuery(q);
        } catch (err) {
          t.true(err instanceof ValidationError);
        }
      },
    ),
  );
});

test('links keep the filters and add the cursor', (t) => {
  const q = parseListQuery({ state: 'queued', tag: 'a b&c' });
  t.is(listQueryString(q.form, '7'), '?state=queued&tag=a+b%26c&cursor=7');
  t.deepEqual(
    parseListQuery(Object.fromEntries(new URLSearchParams(listQueryString(q.form, '7').slice(1)))).filter,
    q.filter,
  );
  t.is(listQueryString({}), '');
});
