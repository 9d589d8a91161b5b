import test from 'ava';
import fc from 'fast-check';
import { lstat, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { formatRecord, identityOf, isVerified, parseRecord, recordPath } from '../../imagetool/blob-cache.js';
import { blobPath, readManifest, verifyStore } from '../../imagetool/index.js';
import { createSample, tempDir, verifyJson } from './helpers.js';

async function storeWithBlob(t: Parameters<typeof tempDir>[0]) {
  const dir = await tempDir(t);
  const store = join(dir, 'store');
  const id = await createSample(t, store, dir, { disk: Buffer.alloc(200_000, 6), boot: 'boot' }, 'cached');
  const digest = (await readManifest(store, id)).blobs.disk!.digest;
  return { store, id, digest };
}

test('a blob hashed once is not hashed again while its file is unchanged', async (t) => {
  const { store, id } = await storeWithBlob(t);
  const first = await verifyStore(store, [id], { trustCache: true });
  t.deepEqual(first.findings, []);
  t.like(first, { blobs: 0, cachedBlobs: 2, cachedBytes: 200_004 });
});

test('a blob rewritten in place with the same size is hashed again, and its damage found', async (t) => {
  const { store, id, digest } = await storeWithBlob(t);
  const before = await lstat(blobPath(store, digest));
  await writeFile(blobPath(store, digest), Buffer.alloc(200_000, 7));
  t.is((await lstat(blobPath(store, digest))).size, before.size);
  const report = await verifyStore(store, [id], { trustCache: true });
  t.like(report, { blobs: 1, cachedBlobs: 1 });
  t.deepEqual(
    report.findings.map((f) => f.kind),
    ['blob-digest-mismatch'],
  );
});

test('rewriting a blob with its own bytes is still a miss: the file changed, so it is hashed', async (t) => {
  const { store, id, digest } = await storeWithBlob(t);
  await writeFile(blobPath(store, digest), await readFile(blobPath(store, digest)));
  const report = await verifyStore(store, [id], { trustCache: true });
  t.like(report, { blobs: 1, cachedBlobs: 1, findings: [] });
  t.like(await verifyStore(store, [id], { trustCache: true }), { blobs: 0, cachedBlobs: 2 });
});

test('verify hashes every blob unless told to trust the cache, so damage the cache cannot see is found', async (t) => {
  const { store, digest } = await storeWithBlob(t);
  // Damage the cache cannot see (as bit rot would be): the record is made to match the damaged file.
  await writeFile(blobPath(store, digest), Buffer.alloc(200_000, 9));
  const st = await lstat(blobPath(store, digest), { bigint: true });
  await writeFile(recordPath(store, digest), formatRecord(digest, identityOf(st)));
  t.true(await isVerified(store, digest, identityOf(st)));
  const { code, report } = await verifyJson(store);
  t.is(code, 1);
  t.deepEqual(
    report.findings.map((f) => f.kind),
    ['blob-digest-mismatch'],
  );
  t.like(await verifyStore(store, undefined, { trustCache: true }), { findings: [] });
});

test('cache records live under .imagetool/, which all.txt does not list', async (t) => {
  const { store, digest } = await storeWithBlob(t);
  t.true((await lstat(recordPath(store, digest))).isFile());
  t.true(recordPath(store, digest).startsWith(join(store, '.imagetool') + '/'));
  const { listIndexEntries } = await import('../../imagetool/index.js');
  t.false(listIndexEntries(store).lines.some((l) => l.includes('.imagetool')));
});

test('parsing a cache record gives a record or null for any text, and reads back what was written', (t) => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (text) => {
      const r = parseRecord(text);
      return r === null || formatRecord(r.digest, r.identity) === text;
    }),
  );
  const big = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
  fc.assert(
    fc.property(fc.stringMatching(/^[0-9a-f]{64}$/), big, big, big, big, big, (digest, dev, ino, size, m, c) => {
      const identity = { dev, ino, size, mtimeNs: m, ctimeNs: c };
      t.deepEqual(parseRecord(formatRecord(digest, identity)), { digest, identity });
    }),
  );
});
