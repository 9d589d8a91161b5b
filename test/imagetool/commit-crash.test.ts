// The commit step of every store write, tested at exactly that point: a writer killed after its temp
// file is complete and before the rename leaves the final name as it was, and a finished write's final
// file is the very temp file it wrote (same inode): rename, not a copy, is what publishes.

import test from 'ava';
import { execFile } from 'node:child_process';
import { lstat, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { blobPath, createImage, imagePath, sha256Hex } from '../../imagetool/index.js';
import { setBeforePublish } from '../../imagetool/publish.js';
import { runCli, tempDir, verifyJson } from './helpers.js';

const DIE_AT_PUBLISH = fileURLToPath(new URL('./die-at-publish.js', import.meta.url));
const CONTENT = Buffer.alloc(300_000, 'disk ');
const DIGEST = sha256Hex(CONTENT);

interface Seen {
  tempPath: string;
  finalPath: string;
  tempSize: number;
  finalExists: boolean;
}

function dieAtPublish(store: string, blobFile: string, kind: string): Promise<{ signal: string | null; seen: Seen }> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [DIE_AT_PUBLISH, store, blobFile, kind], (err, stdout) => {
      const signal = (err as { signal?: string } | null)?.signal ?? null;
      if (stdout.trim() === '') reject(new Error(`the writer never reached the publish of a ${kind}`));
      else resolve({ signal, seen: JSON.parse(stdout) as Seen });
    });
  });
}

/** A store whose final names for the test image already hold stale bytes, so "untouched" is visible. */
async function staleStore(
  dir: string,
): Promise<{ store: string; blobFile: string; stale: { blob: string; imageTxt: string } }> {
  const store = join(dir, 'store');
  const blobFile = join(dir, 'disk');
  await writeFile(blobFile, CONTENT);
  const blob = blobPath(store, DIGEST);
  await mkdir(join(blob, '..'), { recursive: true });
  await writeFile(blob, 'a blob cut short');
  await writeFile(join(store, 'image.txt'), `${'0'.repeat(64)}\n`);
  return { store, blobFile, stale: { blob, imageTxt: join(store, 'image.txt') } };
}

for (const [kind, what] of [
  ['blob', 'a blob'],
  ['manifest', 'a manifest'],
  ['image.txt', 'image.txt'],
] as const) {
  test.serial(`a writer killed between writing ${what} and renaming it leaves the final name as it was`, async (t) => {
    const dir = await tempDir(t);
    const { store, blobFile, stale } = await staleStore(dir);
    const before = { blob: await readFile(stale.blob), imageTxt: await readFile(stale.imageTxt) };

    const { signal, seen } = await dieAtPublish(store, blobFile, kind);
    t.is(signal, 'SIGKILL');
    // The temp file was whole when it was about to be renamed, and it is still all there is of it.
    const temp = await readFile(seen.tempPath);
    t.is(temp.length, seen.tempSize);
    if (kind === 'blob') t.true(temp.equals(CONTENT));
    if (kind === 'image.txt') t.regex(temp.toString(), /^[0-9a-f]{64}\n$/);
    if (kind === 'manifest') {
      t.false(seen.finalExists);
      await t.throwsAsync(stat(seen.finalPath));
    }
    // Stale files under final names are exactly as they were: nothing wrote to them but a rename would.
    if (kind !== 'blob') t.true((await readFile(stale.blob)).equals(CONTENT), 'the blob was published first');
    else t.true((await readFile(stale.blob)).equals(before.blob));
    t.true((await readFile(stale.imageTxt)).equals(before.imageTxt));

    // The next writer removes the dead one's temp file and completes the image.
    const r = await runCli(['--store', store, 'create', '--label', 'commit', '--blob', `disk=${blobFile}`]);
    t.is(r.code, 0, r.stderr);
    const id = r.stdout.trim();
    if (kind === 'manifest') t.is(sha256Hex(temp), id);
    if (kind === 'image.txt') t.is(temp.toString(), `${id}\n`);
    await t.throwsAsync(stat(seen.tempPath));
    t.deepEqual((await verifyJson(store)).report.findings, []);
  });
}

test.serial(
  'rename is what publishes: each stored file is the very temp file that was written, not a copy',
  async (t) => {
    const dir = await tempDir(t);
    const { store, blobFile } = await staleStore(dir);
    const written = new Map<string, { tempPath: string; ino: number }>();
    setBeforePublish(async (tempPath, finalPath) => {
      written.set(finalPath, { tempPath, ino: (await lstat(tempPath)).ino });
    });
    t.teardown(() => setBeforePublish(undefined));
    const id = await createImage(store, { label: 'commit', blobs: { disk: { path: blobFile } } });

    const finals = [blobPath(store, DIGEST), imagePath(store, id), join(store, 'image.txt')];
    for (const final of finals) {
      const w = written.get(final);
      if (w === undefined) return t.fail(`${final} was not published through a rename`);
      t.is((await lstat(final)).ino, w.ino, final);
      await t.throwsAsync(lstat(w.tempPath));
    }
  },
);
