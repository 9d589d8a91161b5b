import test from 'ava';
import { writeFile } from 'node:fs/promises';
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
