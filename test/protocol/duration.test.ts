// Durations as flags and config values spell them.
import test from 'ava';
import { parseDuration } from '../../protocol/duration.js';

for (const [text, ms] of [
  ['90', 90_000],
  ['90s', 90_000],
  ['5m', 300_000],
  ['2h', 7_200_000],
  ['1d', 86_400_000],
  ['250ms', 250],
  ['1.5s', 1500],
] as const) {
  test(`duration "${text}" is ${ms} ms`, (t) => t.is(parseDuration(text), ms));
}

for (const bad of ['', 'm', '5 minutes', '-1s', '1w', '1e3']) {
  test(`duration "${bad}" is refused with a clear message`, (t) => {
    t.throws(() => parseDuration(bad), { message: /invalid duration/ });
  });
}
