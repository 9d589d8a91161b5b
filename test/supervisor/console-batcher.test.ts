import test from 'ava';
import { ConsoleBatcher } from '../../supervisor/console-batcher.js';

test('small writes are joined into one batch on flush', (t) => {
  const out: string[] = [];
  const b = new ConsoleBatcher((bytes) => out.push(bytes.toString()), { delayMs: 10_000 });
  b.push(Buffer.from('a'));
  b.push(Buffer.from('b'));
  t.deepEqual(out, []);
  b.flush();
  t.deepEqual(out, ['ab']);
});

test('a large write is split into batches of at most maxBytes, in order', (t) => {
  const out: Buffer[] = [];
  const b = new ConsoleBatcher((bytes) => out.push(Buffer.from(bytes)), { maxBytes: 4, delayMs: 10_000 });
  b.push(Buffer.from('0123456789'));
  b.flush();
  t.deepEqual(
    out.map((x) => x.toString()),
    ['0123', '4567', '89'],
  );
});

test('buffered output is sent after the delay without a flush', async (t) => {
  const out: string[] = [];
  const b = new ConsoleBatcher((bytes) => out.push(bytes.toString()), { delayMs: 5 });
  b.push(Buffer.from('later'));
  await new Promise((r) => setTimeout(r, 50));
  t.deepEqual(out, ['later']);
});

test('flushing with nothing buffered sends nothing', (t) => {
  const out: Buffer[] = [];
  const b = new ConsoleBatcher((bytes) => out.push(bytes));
  b.push(Buffer.alloc(0));
  b.flush();
  t.deepEqual(out, []);
});
