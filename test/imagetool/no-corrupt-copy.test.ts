// Nothing already in a store is trusted by its name and size alone: a damaged blob or manifest found where
// a writer would put a good one is checked by digest and replaced; symlinks are not store content.

import test from 'ava';
import { copyFile, lstat, mkdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  blobPath,
  blobRelPath,
  imagePath,
  imageRelPath,
  listIndexEntries,
  readManifest,
} from '../../imagetool/index.js';
import { createSample, runCli, tempDir, verifyJson } from './helpers.js';

/** Overwrites a file in place with other bytes of the same length. */
async function damage(path: string): Promise<void> {
  const bytes = await readFile(path);
  await writeFile(path, Buffer.from(bytes.map((b) => b ^ 0xff)));
}

test('create replaces a same-size damaged blob already under its digest, and the store verifies', async (t) => {
  const dir = await tempDir(t);
  const store = join(dir, 'store');
  const id = await createSample(t, store, dir, { disk: Buffer.alloc(50_000, 4) }, 'a');
  const digest = (await readManifest(store, id)).blobs.disk!.digest;
  await damage(blobPath(store, digest));
  t.is((await verifyJson(store)).code, 1);
  t.is(await createSample(t, store, dir, { disk: Buffer.alloc(50_000, 4) }, 'a'), id);
  t.deepEqual((await verifyJson(store)).report.findings, []);
});

/** Two wrong sizes for a blob already in a store: cut short by an interrupted copy, or grown by junk. */
const WRONG_SIZES: Array<[string, (bytes: Buffer) => Buffer]> = [
  ['a truncated', (b) => b.subarray(0, b.length - 1000)],
  ['an over-long', (b) => Buffer.concat([b, Buffer.from('junk')])],
];

for (const [what, resize] of WRONG_SIZES) {
  test(`create repairs ${what} blob already under its digest instead of keeping it`, async (t) => {
    const dir = await tempDir(t);
    const store = join(dir, 'store');
    const content = Buffer.alloc(40_000, 6);
    const id = await createSample(t, store, dir, { disk: content }, 'w');
    const path = blobPath(store, (await readManifest(store, id)).blobs.disk!.digest);
    await writeFile(path, resize(content));
    t.is(await createSample(t, store, dir, { disk: content }, 'w'), id);
    t.true((await readFile(path)).equals(content));
    t.deepEqual((await verifyJson(store)).report.findings, []);
  });

  test(`copy repairs ${what} blob in the target instead of skipping it`, async (t) => {
    const dir = await tempDir(t);
    const src = join(dir, 'src');
    const dst = join(dir, 'dst');
    const content = Buffer.alloc(40_000, 7);
    const id = await createSample(t, src, dir, { disk: content }, 'w');
    t.is((await runCli(['--store', src, 'copy', id, '--to', dst])).code, 0);
    const path = blobPath(dst, (await readManifest(src, id)).blobs.disk!.digest);
    await writeFile(path, resize(content));
    const r = await runCli(['--store', src, 'copy', id, '--to', dst, '--json']);
    t.is(r.code, 0, r.stderr);
    t.like(JSON.parse(r.stdout), { blobsCopied: 1, blobsSkipped: 0 });
    t.true((await readFile(path)).equals(content));
    t.deepEqual((await verifyJson(dst)).report.findings, []);
  });
}

test('create replaces a damaged manifest under the image ID it computes', async (t) => {
  const dir = await tempDir(t);
  const store = join(dir, 'store');
  const id = await createSample(t, store, dir, { boot: 'boot' }, 'm');
  await damage(imagePath(store, id));
  t.is(await createSample(t, store, dir, { boot: 'boot' }, 'm'), id);
  t.deepEqual((await verifyJson(store)).report.findings, []);
});

test('copy replaces a same-size damaged blob in the target instead of skipping it', async (t) => {
  const dir = await tempDir(t);
  const src = join(dir, 'src');
  const dst = join(dir, 'dst');
  const id = await createSample(t, src, dir, { disk: Buffer.alloc(30_000, 8) }, 'c');
  const digest = (await readManifest(src, id)).blobs.disk!.digest;
  t.is((await runCli(['--store', src, 'copy', id, '--to', dst])).code, 0);
  await damage(blobPath(dst, digest));
  const r = await runCli(['--store', src, 'copy', id, '--to', dst, '--json']);
  t.is(r.code, 0, r.stderr);
  t.like(JSON.parse(r.stdout), { blobsCopied: 1, blobsSkipped: 0 });
  t.deepEqual((await verifyJson(dst)).report.findings, []);
});

test('copy replaces a junk manifest that sits under the image name in the target', async (t) => {
  const dir = await tempDir(t);
  const src = join(dir, 'src');
  const dst = join(dir, 'dst');
  const id = await createSample(t, src, dir, { boot: 'boot' }, 'j');
  await mkdir(join(imagePath(dst, id), '..'), { recursive: true });
  await writeFile(imagePath(dst, id), 'junk');
  t.is((await runCli(['--store', src, 'copy', id, '--to', dst])).code, 0);
  t.true((await readFile(imagePath(dst, id))).equals(await readFile(imagePath(src, id))));
  t.deepEqual((await verifyJson(dst)).report.findings, []);
});

test('copy --to a directory inside the source store is refused before anything is created', async (t) => {
  const dir = await tempDir(t);
  const src = join(dir, 'src');
  const id = await createSample(t, src, dir, { boot: 'boot' }, 'in');
  for (const to of [join(src, 'mirror'), join(src, 'blobs', 'deeper', 'still')]) {
    const r = await runCli(['--store', src, 'copy', id, '--to', to]);
    t.is(r.code, 1);
    t.is(r.stderr, `tml-imagetool: target ${to} is inside the source store ${src}; copy to a directory outside it\n`);
  }
  await t.throwsAsync(stat(join(src, 'mirror')));
  await t.throwsAsync(stat(join(src, 'blobs', 'deeper')));
  t.deepEqual((await verifyJson(src)).report.findings, []);
});

test('a symlinked blob is reported by verify and left out of all.txt: they agree that it is not content', async (t) => {
  const dir = await tempDir(t);
  const store = join(dir, 'store');
  const id = await createSample(t, store, dir, { boot: 'linked boot' }, 's');
  const digest = (await readManifest(store, id)).blobs.boot!.digest;
  const outside = join(dir, 'outside-copy');
  await copyFile(blobPath(store, digest), outside);
  await rm(blobPath(store, digest));
  await symlink(outside, blobPath(store, digest));
  const whole = await verifyJson(store);
  t.deepEqual(
    whole.report.findings.map((f) => `${f.kind} ${f.path}`),
    [`not-a-regular-file ${blobRelPath(digest)}`],
  );
  t.regex(whole.report.findings[0]!.message, /all\.txt lists regular files only/);
  t.deepEqual(
    (await verifyJson(store, [id])).report.findings.map((f) => f.kind),
    ['not-a-regular-file'],
  );
  t.false(listIndexEntries(store).lines.includes(`./${blobRelPath(digest)}`));
  t.true(listIndexEntries(store).lines.includes(`./${imageRelPath(id)}`));
});

test('create over a symlinked blob puts a regular file in its place', async (t) => {
  const dir = await tempDir(t);
  const store = join(dir, 'store');
  const id = await createSample(t, store, dir, { boot: 'relink' }, 'r');
  const digest = (await readManifest(store, id)).blobs.boot!.digest;
  const outside = join(dir, 'outside-copy');
  await copyFile(blobPath(store, digest), outside);
  await rm(blobPath(store, digest));
  await symlink(outside, blobPath(store, digest));
  t.is(await createSample(t, store, dir, { boot: 'relink' }, 'r'), id);
  t.true((await lstat(blobPath(store, digest))).isFile());
  t.deepEqual((await verifyJson(store)).report.findings, []);
});
