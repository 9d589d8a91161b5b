// A full disk under every writing command: one line, exit 1, no temporary file or marker left behind, and
// what is under a final name still verifies.

import test, { type ExecutionContext } from 'ava';
import { readdir, stat, statfs, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DIRECT_FROM } from '../../imagetool/blob-writer.js';
import { createImage } from '../../imagetool/index.js';
import { canMountTmpfs, runCli, smallDisk, tempDir, verifyJson, type CliResult } from './helpers.js';

const disk = canMountTmpfs() ? test : test.skip;
const DISK = 1 << 20;
const PAGE = 4096;

/** Every file under dir whose name marks it as temporary or as a command's marker. */
async function leftovers(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (/^\.(tmp|writer|gc)-/.test(e.name)) found.push(join(e.parentPath, e.name));
  }
  return found;
}

async function usedBytes(dir: string): Promise<number> {
  const s = await statfs(dir);
  return (s.blocks - s.bfree) * s.bsize;
}

function failedCleanly(t: ExecutionContext, r: CliResult): void {
  t.is(r.code, 1, r.stderr);
  t.regex(r.stderr, /^tml-imagetool: [^\n]*no space left on device\n$/);
  t.is(r.stdout, '');
}

disk('create with a blob larger than the disk fails in one line and frees what it wrote', async (t) => {
  const dir = await tempDir(t);
  const mnt = await smallDisk(t, DISK);
  await writeFile(join(dir, 'big'), Buffer.alloc(DISK + PAGE, 7));
  const store = join(mnt, 'store');
  const r = await runCli(['--store', store, 'create', '--label', 'big', '--blob', `big=${join(dir, 'big')}`]);
  failedCleanly(t, r);
  t.deepEqual(await leftovers(mnt), []);
  t.is(await usedBytes(mnt), 0, 'the disk is not left full');
  t.is((await verifyJson(store)).code, 0);
});

disk(
  'create of a file large enough to be copied with direct writes fails on a full disk in one line and frees what it wrote',
  async (t) => {
    const dir = await tempDir(t);
    const mnt = await smallDisk(t, DISK);
    await writeFile(join(dir, 'big'), '');
    await truncate(join(dir, 'big'), DIRECT_FROM); // sparse: quick to write and to read
    const store = join(mnt, 'store');
    const r = await runCli(['--store', store, 'create', '--label', 'big', '--blob', `big=${join(dir, 'big')}`]);
    failedCleanly(t, r);
    t.deepEqual(await leftovers(mnt), []);
    t.is(await usedBytes(mnt), 0, 'the disk is not left full');
    t.is((await verifyJson(store)).code, 0);
  },
);

disk('create on a disk that fills at any point leaves only sound files under final names', async (t) => {
  const dir = await tempDir(t);
  // Blob sizes around the capacity: the blob, its manifest or image.txt is the write that fails.
  for (const size of [DISK - 3 * PAGE, DISK - 2 * PAGE, DISK - PAGE, DISK - 100, DISK]) {
    const mnt = await smallDisk(t, DISK);
    const store = join(mnt, 'store');
    await writeFile(join(dir, 'blob'), Buffer.alloc(size, 1));
    await writeFile(join(dir, 'second'), Buffer.alloc(3 * PAGE, 2));
    const r = await runCli([
      '--store',
      store,
      'create',
      '--label',
      'fill',
      '--blob',
      `a=${join(dir, 'blob')}`,
      '--blob',
      `b=${join(dir, 'second')}`,
    ]);
    failedCleanly(t, r);
    t.deepEqual(await leftovers(mnt), [], `blob of ${size} bytes`);
    t.deepEqual((await verifyJson(store)).report.findings, [], `blob of ${size} bytes`);
  }
});

disk('index on a full disk fails in one line and keeps the old all.txt', async (t) => {
  const dir = await tempDir(t);
  const mnt = await smallDisk(t, DISK);
  const store = join(mnt, 'store');
  await writeFile(join(dir, 'f'), 'f');
  await createImage(store, { label: 'i', blobs: { f: { path: join(dir, 'f') } } });
  await writeFile(join(store, 'all.txt'), 'old\n');
  const free = (await statfs(mnt)).bavail * (await statfs(mnt)).bsize;
  await writeFile(join(mnt, 'filler'), Buffer.alloc(free, 0));
  const r = await runCli(['--store', store, 'index']);
  failedCleanly(t, r);
  t.deepEqual(await leftovers(mnt), []);
  t.is((await stat(join(store, 'all.txt'))).size, 4);
});

disk('copy into a store on a full disk fails in one line, leaving no manifest and no temp files', async (t) => {
  const dir = await tempDir(t);
  const src = join(dir, 'src');
  await writeFile(join(dir, 'a'), Buffer.alloc(DISK / 2, 1));
  await writeFile(join(dir, 'b'), Buffer.alloc(DISK / 2 + PAGE, 2));
  const id = await createImage(src, {
    label: 'c',
    blobs: { a: { path: join(dir, 'a') }, b: { path: join(dir, 'b') } },
  });
  const mnt = await smallDisk(t, DISK);
  const dst = join(mnt, 'dst');
  const r = await runCli(['--store', src, 'copy', id, '--to', dst]);
  t.is(r.code, 1);
  t.regex(r.stderr, /^tml-imagetool: image [0-9a-f]{64} blob [ab]: cannot store .*: no space left on device\n$/);
  t.deepEqual(await leftovers(mnt), []);
  t.deepEqual(await readdir(join(dst, 'images')).catch(() => []), []);
  t.is((await verifyJson(dst)).code, 0);
});
