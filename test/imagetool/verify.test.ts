import test from 'ava';
import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import { appendFile, mkdir, open, readFile, rename, symlink, truncate, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { blobRelPath, imageRelPath, readManifest, verifyImage } from '../../imagetool/index.js';
import { createSample, runCli, tempDir, verifyJson } from './helpers.js';

async function storeWithImage(
  t: Parameters<typeof createSample>[0],
): Promise<{ store: string; id: string; digest: string }> {
  const dir = await tempDir(t);
  const store = join(dir, 'store');
  const id = await createSample(t, store, dir, { boot: 'boot script contents\n' });
  const manifest = await readManifest(store, id);
  return { store, id, digest: manifest.blobs.boot!.digest };
}

/** Runs verify --json and returns the findings as "kind path" strings. */
async function findings(store: string, ids: string[] = []): Promise<string[]> {
  const { code, report } = await verifyJson(store, ids);
  if (report.findings.length > 0 && code !== 1) throw new Error(`verify exited ${code} with findings`);
  return report.findings.map((f) => `${f.kind} ${f.path}`);
}

test('a freshly created store verifies clean with exit 0', async (t) => {
  const { store } = await storeWithImage(t);
  const r = await runCli(['--store', store, 'verify']);
  t.is(r.code, 0, r.stdout + r.stderr);
  t.regex(r.stdout, /^ok: 1 image\(s\), 1 blob\(s\)/);
});

test("a flipped byte in a blob is a digest mismatch at that blob's path", async (t) => {
  const { store, digest } = await storeWithImage(t);
  const fh = await open(join(store, blobRelPath(digest)), 'r+');
  const b = Buffer.alloc(1);
  await fh.read(b, 0, 1, 3);
  b[0]! ^= 0x01;
  await fh.write(b, 0, 1, 3);
  await fh.close();
  t.deepEqual(await findings(store), [`blob-digest-mismatch ${blobRelPath(digest)}`]);
});

test('a truncated blob is a size mismatch and a digest mismatch', async (t) => {
  const { store, digest } = await storeWithImage(t);
  await truncate(join(store, blobRelPath(digest)), 4);
  t.deepEqual(await findings(store), [
    `blob-digest-mismatch ${blobRelPath(digest)}`,
    `blob-size-mismatch ${blobRelPath(digest)}`,
  ]);
});

test('a deleted blob is reported missing, naming the image that needs it', async (t) => {
  const { store, id, digest } = await storeWithImage(t);
  await unlink(join(store, blobRelPath(digest)));
  const { report } = await verifyJson(store);
  t.deepEqual(
    report.findings.map((f) => f.kind),
    ['blob-missing'],
  );
  t.is(report.findings[0]!.path, blobRelPath(digest));
  t.regex(report.findings[0]!.message, new RegExp(`image ${id} as blob boot`));
});

test('a blob moved to the wrong shard is misplaced (and missing where it belongs)', async (t) => {
  const { store, digest } = await storeWithImage(t);
  await mkdir(join(store, 'blobs/00/00/00'), { recursive: true });
  await rename(join(store, blobRelPath(digest)), join(store, 'blobs/00/00/00', digest));
  t.deepEqual(await findings(store), [`misplaced blobs/00/00/00/${digest}`, `blob-missing ${blobRelPath(digest)}`]);
});

test('a file whose name is not a digest is reported', async (t) => {
  const { store, digest } = await storeWithImage(t);
  await writeFile(join(store, 'blobs', digest.slice(0, 2), 'notes.txt'), 'x');
  t.deepEqual(await findings(store), [`not-a-digest blobs/${digest.slice(0, 2)}/notes.txt`]);
});

test('a dangling symlink where a blob belongs is not a regular file', async (t) => {
  const { store } = await storeWithImage(t);
  const fake = 'f'.repeat(64);
  await mkdir(join(store, 'blobs/ff/ff/ff'), { recursive: true });
  await symlink('/nonexistent', join(store, blobRelPath(fake)));
  t.deepEqual(await findings(store), [`not-a-regular-file ${blobRelPath(fake)}`]);
});

test('a manifest edited after storing no longer hashes to its name', async (t) => {
  const { store, id } = await storeWithImage(t);
  await appendFile(join(store, imageRelPath(id)), '# comment\n');
  t.deepEqual(await findings(store), [`manifest-digest-mismatch ${imageRelPath(id)}`]);
});

test('a manifest that is not valid TOML is reported invalid', async (t) => {
  const { store } = await storeWithImage(t);
  const bad = Buffer.from('manifest_version = = 0\n');
  const { sha256Hex } = await import('../../imagetool/index.js');
  const id = sha256Hex(bad);
  await mkdir(join(store, imageRelPath(id), '..'), { recursive: true });
  await writeFile(join(store, imageRelPath(id)), bad);
  const { report } = await verifyJson(store);
  t.deepEqual(
    report.findings.map((f) => `${f.kind} ${f.path}`),
    [`manifest-invalid ${imageRelPath(id)}`],
  );
  t.regex(report.findings[0]!.message, /bad TOML/);
});

test('a manifest without the base extension, over a limit or with a bad digest is reported invalid', async (t) => {
  const { store, id } = await storeWithImage(t);
  const original = await readFile(join(store, imageRelPath(id)), 'utf8');
  const { sha256Hex } = await import('../../imagetool/index.js');
  const variants = [
    original.replace('[ "org.tockos.treadmill.manifest-ext.base" ]', '[ "other" ]'),
    original.replace('"sample"', `"${'x'.repeat(65)}"`),
    original.replace(/sha256-digest" = "[0-9a-f]+"/, 'sha256-digest" = "XYZ"'),
  ];
  const ids: string[] = [];
  for (const v of variants) {
    const vid = sha256Hex(v);
    ids.push(vid);
    await mkdir(join(store, imageRelPath(vid), '..'), { recursive: true });
    await writeFile(join(store, imageRelPath(vid)), v);
  }
  t.deepEqual(await findings(store), ids.map((i) => `manifest-invalid ${imageRelPath(i)}`).sort());
});

test('a temporary file of a dead writer is a leftover; one of a live writer is not', async (t) => {
  const { store } = await storeWithImage(t);
  const dead = spawn(process.execPath, ['-e', '']);
  await new Promise((r) => dead.on('exit', r));
  await writeFile(join(store, 'blobs', `.tmp-${dead.pid}-abcdef`), 'partial');
  await writeFile(join(store, `.tmp-${dead.pid}-123456`), 'partial');
  await writeFile(join(store, 'blobs', `.tmp-${process.pid}-abcdef`), 'in progress');
  t.deepEqual(
    await findings(store),
    [`temp-leftover .tmp-${dead.pid}-123456`, `temp-leftover blobs/.tmp-${dead.pid}-abcdef`].sort(),
  );
});

test('verify with IDs checks only those images and their blobs', async (t) => {
  const dir = await tempDir(t);
  const store = join(dir, 'store');
  const good = await createSample(t, store, dir, { a: 'good' }, 'good');
  const bad = await createSample(t, store, dir, { a: 'bad' }, 'bad');
  const badBlob = (await readManifest(store, bad)).blobs.a!.digest;
  await unlink(join(store, blobRelPath(badBlob)));
  t.deepEqual(await findings(store, [good.slice(0, 10)]), []);
  t.deepEqual(await findings(store, [bad]), [`blob-missing ${blobRelPath(badBlob)}`]);
  t.deepEqual(
    (await verifyImage(store, bad)).map((f) => f.kind),
    ['blob-missing'],
  );
});

test('verify reports several findings at once, in text with exit 1', async (t) => {
  const { store, id, digest } = await storeWithImage(t);
  await unlink(join(store, blobRelPath(digest)));
  await appendFile(join(store, imageRelPath(id)), '\n');
  const r = await runCli(['--store', store, 'verify']);
  t.is(r.code, 1);
  t.regex(r.stdout, new RegExp(`^blob-missing ${blobRelPath(digest)}: `, 'm'), r.stderr);
  t.regex(r.stdout, new RegExp(`^manifest-digest-mismatch ${imageRelPath(id)}: `, 'm'));
  t.regex(r.stdout, /2 problem\(s\) found/);
});

test('verify hashes many blobs concurrently and finds the one bad among them', async (t) => {
  const dir = await tempDir(t);
  const store = join(dir, 'store');
  const blobs = Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`b${i}`, Buffer.alloc(50_000 + i * 1000, i)]));
  const id = await createSample(t, store, dir, blobs, 'many');
  const digest = (await readManifest(store, id)).blobs.b7!.digest;
  await writeFile(join(store, blobRelPath(digest)), Buffer.alloc(57_000, 0xff));
  t.deepEqual(await findings(store), [`blob-digest-mismatch ${blobRelPath(digest)}`]);
});

test('a stored manifest with a negative revision, which upstream cannot read, is manifest-invalid', async (t) => {
  const { store, id } = await storeWithImage(t);
  const text = (await readFile(join(store, imageRelPath(id)), 'utf8')).replace(/(base\.revision" = )0$/m, '$1-3');
  t.true(text.includes('revision" = -3'));
  const badId = createHash('sha256').update(text).digest('hex');
  await mkdir(join(store, imageRelPath(badId), '..'), { recursive: true });
  await writeFile(join(store, imageRelPath(badId)), text);
  const { report } = await verifyJson(store);
  t.deepEqual(
    report.findings.map((f) => `${f.kind} ${f.path} ${f.message}`),
    [`manifest-invalid ${imageRelPath(badId)} revision must be a non-negative integer, got -3`],
  );
});
