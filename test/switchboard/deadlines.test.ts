import test from 'ava';
import { Deadlines } from '../../switchboard/deadlines.js';
import { FakeClock } from './fake-clock.js';

test('a deadline fires at its time, not before', (t) => {
  const clock = new FakeClock();
  const d = new Deadlines(clock, () => null);
  const fired: number[] = [];
  d.at('a', clock.now() + 1000, () => fired.push(clock.now()));
  clock.advance(999);
  t.deepEqual(fired, []);
  clock.advance(1);
  t.deepEqual(fired, [clock.now()]);
});

test('a deadline set again for its key replaces the earlier one; a cleared one never fires', (t) => {
  const clock = new FakeClock();
  const d = new Deadlines(clock, () => null);
  const fired: string[] = [];
  d.at('a', clock.now() + 100, () => fired.push('first'));
  d.at('a', clock.now() + 200, () => fired.push('second'));
  d.at('b', clock.now() + 50, () => fired.push('b'));
  d.clear('b');
  clock.advance(1000);
  t.deepEqual(fired, ['second']);
});

test('a deadline already past fires at once; after stop none is armed', (t) => {
  const clock = new FakeClock();
  const d = new Deadlines(clock, () => null);
  const fired: string[] = [];
  d.at('past', clock.now() - 5000, () => fired.push('past'));
  clock.advance(0);
  t.deepEqual(fired, ['past']);
  d.at('later', clock.now() + 10, () => fired.push('later'));
  d.stop();
  d.at('after-stop', clock.now() + 10, () => fired.push('after-stop'));
  clock.advance(100);
  t.deepEqual(fired, ['past']);
});

test('an action that throws does not escape; it is retried after the delay its failure handler gives', (t) => {
  const clock = new FakeClock();
  let tries = 0;
  const failures: string[] = [];
  const d = new Deadlines(clock, (key) => {
    failures.push(key);
    return failures.length < 3 ? 500 : null;
  });
  d.at('flaky', clock.now() + 100, () => {
    tries++;
    throw new Error('disk full');
  });
  clock.advance(100);
  clock.advance(499);
  t.is(tries, 1);
  clock.advance(10_000);
  t.is(tries, 3);
  t.deepEqual(failures, ['flaky', 'flaky', 'flaky']);
});
