import test from 'ava';
import fc from 'fast-check';
import { createHash } from 'node:crypto';
import { SLOT_SIZE, StreamHasher, type HashStream } from '../../imagetool/stream-hasher.js';

const sha256 = (parts: Uint8Array[]): string => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('hex');
};

/** Hashes `bytes` through a slot, as a download does with what it received. */
async function feed(hasher: StreamHasher, stream: HashStream, bytes: Uint8Array): Promise<void> {
  const slot = await hasher.acquire();
  slot.bytes.set(bytes);
  await stream.update(slot, bytes.byteLength);
  hasher.release(slot);
}

test('streams hashed on the worker, interleaved, each get the digest of their own bytes', async (t) => {
  const hasher = new StreamHasher(2);
  t.teardown(() => hasher.close());
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.array(fc.uint8Array({ maxLength: 3000 }), { maxLength: 6 }), { minLength: 1, maxLength: 4 }),
      async (streams) => {
        const hs = streams.map(() => hasher.stream());
        const longest = Math.max(...streams.map((s) => s.length));
        for (let i = 0; i < longest; i++)
          await Promise.all(streams.map((s, k) => (i < s.length ? feed(hasher, hs[k]!, s[i]!) : undefined)));
        const digests = await Promise.all(hs.map((h) => h.digest()));
        t.deepEqual(
          digests,
          streams.map((s) => sha256(s)),
        );
      },
    ),
    { numRuns: 50 },
  );
});

test('updates posted without waiting are hashed in the order they were posted', async (t) => {
  const hasher = new StreamHasher(3);
  t.teardown(() => hasher.close());
  const s = hasher.stream();
  const slots = [await hasher.acquire(), await hasher.acquire(), await hasher.acquire()];
  slots.forEach((slot, i) => slot.bytes.fill(i));
  await Promise.all(slots.map((slot) => s.update(slot, SLOT_SIZE)));
  t.is(await s.digest(), sha256(slots.map((_, i) => Buffer.alloc(SLOT_SIZE, i))));
});

test('a slot is lent to one holder at a time: acquire waits for a release', async (t) => {
  const hasher = new StreamHasher(1);
  t.teardown(() => hasher.close());
  const first = await hasher.acquire();
  let second: unknown;
  const waiting = Promise.resolve(hasher.acquire()).then((slot) => (second = slot));
  await new Promise((resolve) => setImmediate(resolve));
  t.is(second, undefined);
  hasher.release(first);
  t.is(await waiting, first);
});

test('a dropped stream leaves the others untouched', async (t) => {
  const hasher = new StreamHasher(1);
  t.teardown(() => hasher.close());
  const dropped = hasher.stream();
  const kept = hasher.stream();
  await feed(hasher, dropped, Buffer.from('abandoned'));
  await feed(hasher, kept, Buffer.from('kept'));
  dropped.drop();
  t.is(await kept.digest(), sha256([Buffer.from('kept')]));
});
