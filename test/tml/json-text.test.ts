import test from 'ava';
import fc from 'fast-check';
import { UsageError } from '../../protocol/cli.js';
import { findJsonSyntaxError, parseJsonText, typeName } from '../../tml/json-text.js';

test('the scanner accepts exactly what JSON.parse accepts', (t) => {
  const nearJson = fc.oneof(
    fc.json(),
    fc.string(),
    fc.json().map((s) => s.slice(0, -1)),
    fc
      .tuple(fc.json(), fc.nat(), fc.constantFrom(',', '}', ']', '"', ':', '\\', ' ', '\n', 'x', '-', '.', 'e'))
      .map(([s, i, c]) => s.slice(0, i % (s.length + 1)) + c + s.slice(i % (s.length + 1))),
  );
  fc.assert(
    fc.property(nearJson, (text) => {
      let parses = true;
      try {
        JSON.parse(text);
      } catch {
        parses = false;
      }
      return (findJsonSyntaxError(text) === null) === parses;
    }),
    { numRuns: 3000 },
  );
  t.pass();
});

test('a trailing comma is found where it is, with line and column', (t) => {
  t.like(findJsonSyntaxError('{"a": "b",}'), {
    offset: 10,
    line: 1,
    column: 11,
    reason: "a trailing comma before '}'",
  });
  t.like(findJsonSyntaxError('[1,\n 2,\n]'), { line: 3, column: 1, reason: "a trailing comma before ']'" });
});

test('each kind of mistake has its own reason', (t) => {
  const reason = (s: string) => findJsonSyntaxError(s)?.reason;
  t.is(reason("{'a': 1}"), 'expected a property name in double quotes');
  t.is(reason('{"a" 1}'), "expected ':' after a property name");
  t.is(reason('{"a": 1 "b": 2}'), "expected ',' or '}'");
  t.is(reason('{"a": "b"'), "unexpected end of input: expected ',' or '}'");
  t.is(reason('{"a": "b\n"}'), 'a control character in a string (write it as an escape, e.g. \\n)');
  t.is(reason('{"a": "\\x"}'), 'invalid escape in a string');
  t.is(reason('{"a": 01}'), "expected ',' or '}'");
  t.is(reason('{"a": 1.}'), 'invalid number (digits must follow the decimal point)');
  t.is(reason('{"a": tru}'), findJsonSyntaxError('x')!.reason);
  t.is(reason('{} {}'), 'unexpected text after the JSON value');
  t.is(reason(''), findJsonSyntaxError(' ')!.reason);
});

test('a JSON error names the flag and the position and never quotes the text', (t) => {
  const err = t.throws(() => parseJsonText('{"token": hunter2}', '--parameters'), { instanceOf: UsageError });
  t.is(
    err.message,
    '--parameters: invalid JSON at line 1, column 11: expected a value (a string in double quotes, a number, true, false, null, an object or an array)',
  );
  const MARK = 'Zq7hunter2';
  fc.assert(
    fc.property(fc.string(), fc.string(), (before, after) => {
      try {
        parseJsonText(`${before}${MARK}${after}`, '--p');
      } catch (e) {
        return e instanceof UsageError && !e.message.includes(MARK);
      }
      return true;
    }),
  );
});

test('a deeply nested text does not overflow the scanner', (t) => {
  t.is(findJsonSyntaxError('['.repeat(200_000) + ']'.repeat(200_000)), null);
  t.regex(findJsonSyntaxError('['.repeat(200_000))!.reason, /^unexpected end of input/);
});

test('type names say what a value is, not what it holds', (t) => {
  t.deepEqual([1, 'x', null, [], {}, true, undefined].map(typeName), [
    'a number',
    'a string',
    'null',
    'an array',
    'an object',
    'a boolean',
    'nothing',
  ]);
});
