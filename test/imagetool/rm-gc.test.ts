import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { blobPath, imagePath, listIndexEntries, readManifest } from '../../imagetool/index.js';
import { createSample, runCli, tempDir, verifyJson } from './helpers.js';

const sh = promisify(execFile);

async function emptyDirs(store: string): Promise<string[]> {
  const { stdout } = await sh('find', ['.', '-mindepth', '1', '-type', 'd', '-empty'], { cwd: store });
  return stdout.split('\n').filter((l) => l !== '');
}

async function twoImages(t: Parameters<typeof tempDir>[0]) {
  const dir = await tempDir(t);
  const store = join(dir, 'store');
  const shared = Buffer.alloc(10_000, 5);
  const keep = await createSample(t, store, dir, { base: shared, own: 'kept' }, 'keep');
  const drop = await createSample(t, store, dir, { base: shared, own: 'dropped' }, 'drop');
  return { store, keep, drop, dropManifest: await readManifest(store, drop) };
}

test('rm then gc then verify: the image and the blobs only it used are gone, no empty directory is left', async (t) => {
  const { store, keep, drop, dropManifest } = await twoImages(t);
  t.is((await readFile(join(store, 'image.txt'), 'utf8')).trim(), drop);
  const r = await runCli(['--store', store, 'rm', drop.slice(0, 12)]);
  t.is(r.code, 0, r.stderr);
  t.is(
    r.stdout,
    `removed image ${drop}\nremoved image.txt (it named a removed image)\nrun gc to remove blobs no image uses any more\n`,
  );
  await t.throwsAsync(stat(imagePath(store, drop)));
  await t.throwsAsync(stat(join(store, 'image.txt')));
  t.true((await stat(blobPath(store, dropManifest.blobs.own!.digest))).isFile(), 'blobs stay until gc');

  const gc = await runCli(['--store', store, 'gc', '--json']);
  t.is(gc.code, 0, gc.stderr);
  const removed = (JSON.parse(gc.stdout) as { removed: Array<{ path: string; reason: string }> }).removed;
  t.deepEqual(
    removed.map((x) => x.reason),
    ['unreferenced'],
  );
  await t.throwsAsync(stat(blobPath(store, dropManifest.blobs.own!.digest)));
  t.true((await stat(blobPath(store, dropManifest.blobs.base!.digest))).isFile(), 'a shared blob stays');
  t.deepEqual(await emptyDirs(store), []);
  t.deepEqual((await verifyJson(store)).report.findings, []);
  t.deepEqual(
    (JSON.parse((await runCli(['--store', store, 'list', '--json'])).stdout) as Array<{ id: string }>).map((i) => i.id),
    [keep],
  );
});

test('rm keeps image.txt when it names another image, and rewrites an existing all.txt', async (t) => {
  const { store, keep, drop } = await twoImages(t);
  t.is((await runCli(['--store', store, 'index'])).code, 0);
  t.is((await runCli(['--store', store, 'rm', keep, '--json'])).code, 0);
  t.is((await readFile(join(store, 'image.txt'), 'utf8')).trim(), drop);
  t.deepEqual((await readFile(join(store, 'all.txt'), 'utf8')).trimEnd().split('\n'), listIndexEntries(store).lines);
  t.false((await readFile(join(store, 'all.txt'), 'utf8')).includes(keep));
});

test('rm of an image the store does not hold fails and removes nothing', async (t) => {
  const { store, keep, drop } = await twoImages(t);
  const r = await runCli(['--store', store, 'rm', keep, 'f'.repeat(64)]);
  t.is(r.code, 1);
  t.regex(r.stderr, /^tml-imagetool: no image f{64} in store /);
  t.true((await stat(imagePath(store, keep))).isFile());
  t.true((await stat(imagePath(store, drop))).isFile());
});

test('gc removes an image.txt that names no image of the store and empty shard directories left by hand', async (t) => {
  const { store, keep, drop } = await twoImages(t);
  await rm(imagePath(store, drop));
  await mkdir(join(store, 'blobs', 'ab', 'cd', 'ef'), { recursive: true });
  await mkdir(join(store, 'images', '01', '02'), { recursive: true });
  const r = await runCli(['--store', store, 'gc']);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /^removed image\.txt \(\d+ B, stale-image-txt\)$/m);
  await t.throwsAsync(stat(join(store, 'image.txt')));
  t.deepEqual(await emptyDirs(store), []);
  t.deepEqual((await verifyJson(store, [keep])).report.findings, []);
});

test('gc --dry-run names a stale image.txt but removes nothing', async (t) => {
  const { store, drop } = await twoImages(t);
  await rm(imagePath(store, drop));
  const r = await runCli(['--store', store, 'gc', '--dry-run']);
  t.regex(r.stdout, /^would remove image\.txt /m);
  t.true((await stat(join(store, 'image.txt'))).isFile());
});

test('gc removes partial downloads no pull is working on, and leaves a live one alone', async (t) => {
  const { store } = await twoImages(t);
  const partial = join(store, '.imagetool', 'partial');
  await mkdir(partial, { recursive: true });
  const d = 'cd'.repeat(32);
  const { writeFile } = await import('node:fs/promises');
  await writeFile(join(partial, d), 'released by a pull that gave up');
  await writeFile(join(partial, `.tmp-${await deadPid()}-${d}`), 'left by a pull killed with -9');
  await writeFile(join(partial, `.tmp-${process.pid}-${d}`), 'a pull at work');
  const r = await runCli(['--store', store, 'gc', '--json']);
  t.is(r.code, 0, r.stderr);
  const removed = (JSON.parse(r.stdout) as { removed: Array<{ path: string; reason: string }> }).removed;
  t.deepEqual(
    removed.map((x) => x.reason),
    ['partial-download', 'partial-download'],
  );
  t.deepEqual(await readdir(partial), [`.tmp-${process.pid}-${d}`]);
});

async function deadPid(): Promise<number> {
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((r) => child.on('exit', r));
  return child.pid!;
}
