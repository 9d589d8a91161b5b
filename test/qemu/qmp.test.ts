// QMP lines, parsed as untrusted input.
import test from 'ava';
import fc from 'fast-check';
import { LineSplitter, parseQmpLine } from '../../supervisor/hosts/qemu/qmp.js';

test('QMP lines are told apart: greeting, reply, error, event', (t) => {
  t.deepEqual(parseQmpLine('{"QMP": {"version": {}}}'), { kind: 'greeting' });
  t.deepEqual(parseQmpLine('{"return": {}, "id": 3}'), { kind: 'return', id: 3, value: {} });
  t.deepEqual(parseQmpLine('{"error": {"class": "X", "desc": "nope"}, "id": 1}'), {
    kind: 'error',
    id: 1,
    message: 'nope',
  });
  t.deepEqual(parseQmpLine('{"event": "RESET", "data": {"guest": true}}'), {
    kind: 'event',
    event: { event: 'RESET', data: { guest: true } },
  });
  t.like(parseQmpLine('[1]'), { kind: 'invalid' });
});

test('any QMP line parses to a message or an invalid one', (t) => {
  fc.assert(fc.property(fc.oneof(fc.string(), fc.json()), (s) => void parseQmpLine(s)));
  t.pass();
});

test('a QMP line longer than the cap is an error, not memory', (t) => {
  const split = new LineSplitter(16);
  t.deepEqual(split.push('{"a":1}\n{"b"'), { lines: ['{"a":1}'], error: null });
  t.regex(split.push('x'.repeat(20)).error ?? '', /longer than 16/);
});
