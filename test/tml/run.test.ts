import test from 'ava';
import { ConsoleMatcher } from '../../tml/run.js';
import { EXIT_CODES, runExitCode } from '../../tml/outcome.js';

test('a completion text split across chunks is found', (t) => {
  const m = new ConsoleMatcher(/All \d+ tests pass/m, /FAIL/m);
  t.is(m.push(Buffer.from('All 12 te')), null);
  t.is(m.push(Buffer.from('sts passed\n')), 'completion');
});

test('the error text wins when both are in the same output', (t) => {
  const m = new ConsoleMatcher(/done/m, /panic/m);
  t.is(m.push(Buffer.from('kernel panic; done\n')), 'error');
});

test('a multi-byte character split across chunks still matches', (t) => {
  const m = new ConsoleMatcher(/grüße/m, null);
  const bytes = Buffer.from('grüße');
  t.is(m.push(bytes.subarray(0, 3)), null);
  t.is(m.push(bytes.subarray(3)), 'completion');
});

test('only the most recent output is kept for matching', (t) => {
  const m = new ConsoleMatcher(/^start.*end$/m, null, 16);
  m.push(Buffer.from('start'));
  t.is(m.push(Buffer.from(`${'x'.repeat(20)} end`)), null);
});

test('each way a run ends has its exit code', (t) => {
  t.is(runExitCode({ kind: 'matched', which: 'completion' }), 0);
  t.is(runExitCode({ kind: 'matched', which: 'error' }), 1);
  t.is(runExitCode({ kind: 'completion_timeout' }), EXIT_CODES.completion_timeout);
  t.is(runExitCode({ kind: 'interrupted' }), 130);
  t.is(runExitCode({ kind: 'ended', status: 'queue_timeout' }), 6);
});
