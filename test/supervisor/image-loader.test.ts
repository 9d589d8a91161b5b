import test from 'ava';
import { lstat, writeFile } from 'node:fs/promises';
import { formatRecord, identityOf, recordPath } from '../../imagetool/blob-cache.js';
import { blobPath } from '../../imagetool/index.js';
import { loadVerifiedImage } from '../../supervisor/image-loader.js';
import { imageWithBootScript } from './local-fixtures.js';

test('a sound image yields its manifest', async (t) => {
  const f = await imageWithBootScript('#!/bin/sh\necho hi\n');
  t.teardown(f.cleanup);
  const manifest = await loadVerifiedImage(f.storeDir, f.imageId);
  t.deepEqual(manifest, f.manifest);
});

test('a missing image is refused with a message naming the image and the store', async (t) => {
  const f = await imageWithBootScript('#!/bin/sh\n');
  t.teardown(f.cleanup);
  const missing = 'c'.repeat(64);
  const err = await t.throwsAsync(loadVerifiedImage(f.storeDir, missing));
  t.true(err!.message.startsWith(`image ${missing} is not usable from store ${f.storeDir}: `));
});

test('an image with a corrupt blob is refused with the verifier finding', async (t) => {
  const f = await imageWithBootScript('#!/bin/sh\necho original\n');
  t.teardown(f.cleanup);
  await writeFile(blobPath(f.storeDir, f.manifest.blobs.boot!.digest), '#!/bin/sh\necho tampered\n');
  const err = await t.throwsAsync(loadVerifiedImage(f.storeDir, f.imageId));
  t.regex(err!.message, new RegExp(`^image ${f.imageId} failed verification in store .*: blobs/`));
});

test('a blob verified before is not hashed again at the next job while its file is unchanged', async (t) => {
  const f = await imageWithBootScript('#!/bin/sh\necho cached\n');
  t.teardown(f.cleanup);
  const digest = f.manifest.blobs.boot!.digest;
  await loadVerifiedImage(f.storeDir, f.imageId);
  // Damage the loader could only find by hashing, made to look unchanged to the cache.
  await writeFile(blobPath(f.storeDir, digest), '#!/bin/sh\necho tamper\n');
  const st = await lstat(blobPath(f.storeDir, digest), { bigint: true });
  await writeFile(recordPath(f.storeDir, digest), formatRecord(digest, identityOf(st)));
  t.deepEqual(await loadVerifiedImage(f.storeDir, f.imageId), f.manifest);
  // Without such forgery any change to the file is a miss, and the damage is found.
  await writeFile(blobPath(f.storeDir, digest), '#!/bin/sh\necho tamper\n');
  await t.throwsAsync(loadVerifiedImage(f.storeDir, f.imageId), { message: /failed verification/ });
});
