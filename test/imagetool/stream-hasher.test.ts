import test from 'ava';
import fc from 'fast-check';
import { createHash } from 'node:crypto';
import { StreamHasher } from '../../imagetool/stream-hasher.js';

const sha256 = (parts: Uint8Array[]): string => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('hex');
};

test('streams hashed on the worker, interleaved, each get the digest of their own bytes', async (t) => {
  const hasher = new StreamHasher();
  t.teardown(() => hasher.close());
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.array(fc.uint8Array({ maxLength: 3000 }), { maxLength: 6 }), { minLength: 1, maxLength: 4 }),
      async (streams) => {
        const hs = streams.map(() => hasher.stream());
        const longest = Math.max(...streams.map((s) => s.length));
        for (let i = 0; i < longest; i++)
          for (const [k, s] of streams.entries()) {
            // A group of chunks in one update, as a gathered write hands them over.
            if (i < s.length) await hs[k]!.update([s[i]!, s[i]!], 2 * s[i]!.byteLength);
          }
        const digests = await Promise.all(hs.map((h) => h.digest()));
        t.deepEqual(
          digests,
          streams.map((s) => sha256(s.flatMap((c) => [c, c]))),
        );
      },
    ),
    { numRuns: 50 },
  );
});

test('a caller may reuse its buffer as soon as update returns: the worker hashes a copy', async (t) => {
  const hasher = new StreamHasher();
  t.teardown(() => hasher.close());
  const s = hasher.stream();
  const buf = Buffer.alloc(1 << 20, 1);
  const pending = s.update([buf], buf.length);
  buf.fill(2);
  await pending;
  t.is(await s.digest(), sha256([Buffer.alloc(1 << 20, 1)]));
});

test('many more bytes than the queue holds are hashed in order, the caller waiting for the worker', async (t) => {
  const hasher = new StreamHasher();
  t.teardown(() => hasher.close());
  const s = hasher.stream();
  const chunks = Array.from({ length: 40 }, (_, i) => Buffer.alloc(1 << 20, i));
  for (const c of chunks) await s.update([c], c.length);
  t.is(await s.digest(), sha256(chunks));
});

test('a dropped stream leaves the others untouched', async (t) => {
  const hasher = new StreamHasher();
  t.teardown(() => hasher.close());
  const dropped = hasher.stream();
  const kept = hasher.stream();
  await dropped.update([Buffer.from('abandoned')], 9);
  await kept.update([Buffer.from('kept')], 4);
  dropped.drop();
  t.is(await kept.digest(), sha256([Buffer.from('kept')]));
});
