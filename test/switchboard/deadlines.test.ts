import test from 'ava';
import { Deadlines } from '../../switchboard/deadlines.js';
import { FakeClock } from './fake-clock.js';

test('a deadline fires at its time, not before', (t) => {
  const clock = new FakeClock();
  const d = new Deadlines(clock);
  const fired: number[] = [];
  d.at('a', clock.now() + 1000, () => fired.push(clock.now()));
  clock.advance(999);
  t.deepEqual(fired, []);
  clock.advance(1);
  t.deepEqual(fired, [clock.now()]);
});

test('a deadline set again for its key replaces the earlier one; a cleared one never fires', (t) => {
  const clock = new FakeClock();
  const d = new Deadlines(clock);
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
  const d = new Deadlines(clock);
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
