import test from 'ava';
import fc from 'fast-check';
import { createHash, randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DownloadSink, SLOTS_PER_DOWNLOAD } from '../../imagetool/download-sink.js';
import { SLOT_SIZE, StreamHasher } from '../../imagetool/stream-hasher.js';
import { tempDir } from './helpers.js';

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** Feeds `bytes` in pieces of the given sizes, awaiting only when the sink asks for it. */
async function feed(sink: DownloadSink, bytes: Buffer, sizes: number[]): Promise<void> {
  let at = 0;
  for (let i = 0; at < bytes.length; i++) {
    const n = Math.min(bytes.length - at, sizes.length > 0 ? sizes[i % sizes.length]! : bytes.length);
    await sink.write(bytes.subarray(at, at + n));
    at += n;
  }
}

for (const direct of [true, false])
  test(`a file resumed from any partial length and fed in any pieces holds its bytes and hashes to them${direct ? '' : ', written through the page cache'}`, async (t) => {
    const dir = await tempDir(t);
    const hasher = new StreamHasher(SLOTS_PER_DOWNLOAD);
    t.teardown(() => hasher.close());
    const whole = randomBytes(3 * SLOT_SIZE + 12345);
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.nat(whole.length),
        fc.nat(whole.length),
        fc.array(fc.integer({ min: 1, max: 300_000 }), { maxLength: 5 }),
        async (partial, length, sizes) => {
          const bytes = whole.subarray(0, Math.max(partial, length));
          const path = join(dir, `blob-${run++}`);
          await writeFile(path, bytes.subarray(0, partial));
          const sink = await DownloadSink.open(path, hasher, { direct });
          try {
            t.is(sink.existing, partial);
            await sink.absorbExisting();
            t.is(sink.size, partial);
            await feed(sink, bytes.subarray(partial), sizes);
            const result = await sink.finish();
            t.deepEqual(result, { digest: sha256(bytes), size: bytes.length });
          } finally {
            await sink.close();
          }
          return (await readFile(path)).equals(bytes);
        },
      ),
      { numRuns: 25 },
    );
  });

test('bytes received into the room the sink offers are taken in place', async (t) => {
  const dir = await tempDir(t);
  const hasher = new StreamHasher(SLOTS_PER_DOWNLOAD);
  t.teardown(() => hasher.close());
  const bytes = randomBytes(2 * SLOT_SIZE + 999);
  const sink = await DownloadSink.open(join(dir, 'blob'), hasher);
  t.teardown(() => sink.close());
  for (let at = 0; at < bytes.length;) {
    // As a socket does: read into the room, then hand over what was read.
    const room = sink.room();
    const n = Math.min(room.length, 100_000, bytes.length - at);
    room.set(bytes.subarray(at, at + n));
    await sink.write(room.subarray(0, n));
    at += n;
  }
  t.deepEqual(await sink.finish(), { digest: sha256(bytes), size: bytes.length });
  t.true((await readFile(join(dir, 'blob'))).equals(bytes));
});

test('a restart empties the file and forgets the hash of what it held', async (t) => {
  const dir = await tempDir(t);
  const hasher = new StreamHasher(SLOTS_PER_DOWNLOAD);
  t.teardown(() => hasher.close());
  const path = join(dir, 'blob');
  const sink = await DownloadSink.open(path, hasher);
  t.teardown(() => sink.close());
  await feed(sink, randomBytes(SLOT_SIZE + 5), [70_000]);
  await sink.restart();
  const bytes = randomBytes(1000);
  await feed(sink, bytes, []);
  t.deepEqual(await sink.finish(), { digest: sha256(bytes), size: 1000 });
  t.true((await readFile(path)).equals(bytes));
});
