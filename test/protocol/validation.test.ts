import test from 'ava';
import { ValidationError, attempt, expectObject } from '../../protocol/validation.js';

test('attempt turns a validation error into a result', (t) => {
  const r = attempt(() => expectObject(3, 'request'));
  t.false(r.ok);
  t.true(!r.ok && r.error instanceof ValidationError && r.error.message === 'request must be an object');
});

test('attempt returns the parsed value', (t) => {
  t.deepEqual(
    attempt(() => expectObject({ a: 1 }, 'request')),
    { ok: true, value: { a: 1 } },
  );
});

test('attempt lets any other exception through: it is a bug, not bad input', (t) => {
  t.throws(
    () =>
      attempt(() => {
        throw new TypeError('bug');
      }),
    { instanceOf: TypeError },
  );
});
