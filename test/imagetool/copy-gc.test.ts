import test from 'ava';
import { spawn } from 'node:child_process';
import { readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { blobRelPath, imageRelPath, readManifest } from '../../imagetool/index.js';
import { createSample, runCli, tempDir, verifyJson } from './helpers.js';

test('copy moves images with their blobs into another store, which then verifies', async (t) => {
  const dir = await tempDir(t);
  const src = join(dir, 'src');
  const dst = join(dir, 'dst');
  const a = await createSample(t, src, dir, { boot: 'A boot', disk: Buffer.alloc(100_000, 1) }, 'a');
  await createSample(t, src, dir, { boot: 'B boot' }, 'b');
  const r = await runCli(['--store', src, 'copy', a.slice(0, 10), '--to', dst, '--json']);
  t.is(r.code, 0, r.stderr);
  t.deepEqual(JSON.parse(r.stdout), { images: [a], blobsCopied: 2, blobsSkipped: 0, bytesCopied: 100_006 });
  t.is((await verifyJson(dst)).code, 0);
  const list = JSON.parse((await runCli(['--store', dst, 'list', '--json'])).stdout) as Array<{ id: string }>;
  t.deepEqual(
    list.map((i) => i.id),
    [a],
  );
});

test('copy skips blobs the target already holds and leaves them untouched', async (t) => {
  const dir = await tempDir(t);
  const src = join(dir, 'src');
  const dst = join(dir, 'dst');
  const shared = Buffer.alloc(20_000, 9);
  await createSample(t, dst, dir, { base: shared }, 'existing');
  const id = await createSample(t, src, dir, { base: shared, top: 'top layer' }, 'new');
  const digest = (await readManifest(src, id)).blobs.base!.digest;
  const before = await stat(join(dst, blobRelPath(digest)));
  const r = await runCli(['--store', src, 'copy', id, '--to', dst]);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /1 blob\(s\) copied \(9 B\), 1 already there/);
  t.is((await stat(join(dst, blobRelPath(digest)))).ino, before.ino);
  t.is((await verifyJson(dst)).code, 0);
});

test('copy refuses a blob whose content does not match its digest and writes no manifest', async (t) => {
  const dir = await tempDir(t);
  const src = join(dir, 'src');
  const dst = join(dir, 'dst');
  const id = await createSample(t, src, dir, { boot: 'original' }, 'x');
  const digest = (await readManifest(src, id)).blobs.boot!.digest;
  await writeFile(join(src, blobRelPath(digest)), 'tampered');
  const r = await runCli(['--store', src, 'copy', id, '--to', dst]);
  t.is(r.code, 1);
  t.regex(r.stderr, /^tml-imagetool: image [0-9a-f]{64} blob boot: .* hashes to [0-9a-f]{64}, expected/);
  await t.throwsAsync(stat(join(dst, imageRelPath(id))));
  await t.throwsAsync(stat(join(dst, blobRelPath(digest))));
  t.deepEqual(
    (await readdir(join(dst, 'blobs'))).filter((n) => n.startsWith('.tmp-')),
    [],
  );
});

test("gc removes unreferenced blobs, dead writers' temp files and a stale image.txt, prints them and the bytes freed", async (t) => {
  const dir = await tempDir(t);
  const store = join(dir, 'store');
  const keep = await createSample(t, store, dir, { boot: 'kept' }, 'keep');
  const orphan = await createSample(t, store, dir, { boot: 'orphaned!' }, 'orphan');
  const orphanBlob = (await readManifest(store, orphan)).blobs.boot!.digest;
  const { rm } = await import('node:fs/promises');
  await rm(join(store, imageRelPath(orphan)));
  const dead = spawn(process.execPath, ['-e', '']);
  await new Promise((r) => dead.on('exit', r));
  await writeFile(join(store, 'blobs', `.tmp-${dead.pid}-beef`), '12345');
  await writeFile(join(store, 'blobs', `.tmp-${process.pid}-cafe`), 'live');

  const dry = await runCli(['--store', store, 'gc', '--dry-run']);
  t.is(dry.code, 0, dry.stderr);
  t.regex(dry.stdout, new RegExp(`would remove ${blobRelPath(orphanBlob)} \\(9 B, unreferenced\\)`));
  // image.txt named the orphan, whose manifest is gone: 65 B more.
  t.regex(dry.stdout, /would free 79 B in 3 file\(s\)/);
  t.true((await stat(join(store, blobRelPath(orphanBlob)))).isFile());

  const real = await runCli(['--store', store, 'gc', '--json']);
  const result = JSON.parse(real.stdout) as { removed: Array<{ path: string; reason: string }>; bytes: number };
  t.is(result.bytes, 79);
  t.deepEqual(result.removed.map((r) => r.reason).sort(), ['stale-image-txt', 'temp-leftover', 'unreferenced']);
  await t.throwsAsync(stat(join(store, blobRelPath(orphanBlob))));
  await t.throwsAsync(stat(join(store, 'blobs', orphanBlob.slice(0, 2), orphanBlob.slice(2, 4))));
  t.true((await stat(join(store, 'blobs', `.tmp-${process.pid}-cafe`))).isFile());
  t.deepEqual((await verifyJson(store, [keep])).report.findings, []);
});

test('gc refuses to run while a manifest is unreadable, since its blobs would look unreferenced', async (t) => {
  const dir = await tempDir(t);
  const store = join(dir, 'store');
  const id = await createSample(t, store, dir, { boot: 'x' }, 'x');
  await writeFile(join(store, imageRelPath(id)), 'not toml = = =');
  const r = await runCli(['--store', store, 'gc']);
  t.is(r.code, 1);
  t.regex(r.stderr, /^tml-imagetool: refusing to collect garbage: /);
  t.is((await readdir(join(store, 'blobs'))).length, 1);
});
