// `list` reads the store without the threadpool (listImageIdsSync, readManifestSync): the same
// images and the same refusals as the reads every other command makes.
import test from 'ava';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { listImageIds, readManifest } from '../../imagetool/index.js';
import { imagePath } from '../../imagetool/paths.js';
import { listImageIdsSync, readManifestSync } from '../../imagetool/store.js';
import { createSample, tempDir } from './helpers.js';

const outcome = async (read: () => unknown) => {
  try {
    return { value: await read() };
  } catch (err) {
    return { error: (err as Error).message };
  }
};

test('the sync listing finds the images the async one finds, and passes over what is not one', async (t) => {
  const dir = await tempDir(t);
  const store = join(dir, 'store');
  const a = await createSample(t, store, dir, { x: 'aaaa' }, 'alpha');
  const b = await createSample(t, store, dir, { x: 'b' }, 'beta');
  // an ID at another's shard path, a directory named as an ID, a stray file, a shard of non-hex
  const misplaced = 'ff'.repeat(32);
  await writeFile(join(imagePath(store, a), '..', misplaced), 'x');
  await mkdir(join(imagePath(store, b), '..', 'ee'.repeat(32)));
  await writeFile(join(store, 'images', 'README'), 'x');
  await mkdir(join(store, 'images', 'zz'));
  t.deepEqual(listImageIdsSync(store), await listImageIds(store));
  t.deepEqual(listImageIdsSync(store), [a, b].sort());
});

test('a store without images/ lists none either way', async (t) => {
  const dir = await tempDir(t);
  t.deepEqual(listImageIdsSync(dir), []);
  t.deepEqual(await listImageIds(dir), []);
});

test('the sync manifest read gives the manifest, and each refusal, as the async one', async (t) => {
  const dir = await tempDir(t);
  const store = join(dir, 'store');
  const good = await createSample(t, store, dir, { x: 'aaaa' }, 'alpha');
  const tampered = await createSample(t, store, dir, { x: 'b' }, 'beta');
  await writeFile(imagePath(store, tampered), 'label = "not what was hashed"\n');
  for (const id of [good, tampered, 'ab'.repeat(32), 'not an id']) {
    t.deepEqual(await outcome(() => readManifestSync(store, id)), await outcome(() => readManifest(store, id)), id);
  }
  t.is(readManifestSync(store, good).label, 'alpha');
});
