import test from 'ava';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import {
  blobPath,
  createImage,
  ImageToolError,
  listImageIds,
  readManifest,
  storeManifest,
} from '../../imagetool/index.js';
import { createSample, runCli, startCli, tempDir, verifyJson } from './helpers.js';

const sh = promisify(execFile);
const sha = (b: string): string => createHash('sha256').update(b).digest('hex');

async function waitFor(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (await check()) return;
    await sleep(25);
  }
  throw new Error(`timed out waiting for ${what}`);
}

function exitCode(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode);
    else child.once('exit', (code) => resolve(code));
  });
}

/** A process that stays alive until killed: its pid stands for a running writer or gc. */
function liveProcess(t: Parameters<typeof tempDir>[0]): ChildProcess {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  t.teardown(() => {
    child.kill('SIGKILL');
  });
  return child;
}

/** The pid of a process that has already exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  await exitCode(child);
  return child.pid!;
}

const markers = async (store: string): Promise<string[]> =>
  (await readdir(store)).filter((n) => n.startsWith('.writer-') || n.startsWith('.gc-'));

test('gc refuses while a create is storing blobs, and that create then completes and verifies', async (t) => {
  const dir = await tempDir(t);
  const store = join(dir, 'store');
  const fifo = join(dir, 'fifo');
  await writeFile(join(dir, 'small.bin'), 'small');
  await sh('mkfifo', [fifo]);
  const child = startCli([
    '--store',
    store,
    'create',
    '--label',
    'r',
    '--blob',
    `a=${join(dir, 'small.bin')}`,
    '--blob',
    `b=${fifo}`,
  ]);
  t.teardown(() => {
    child.kill('SIGKILL');
  });
  let stdout = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
  });
  // Blob a is stored under its final name; create now waits on the FIFO for blob b.
  await waitFor('blob a', () =>
    stat(blobPath(store, sha('small'))).then(
      () => true,
      () => false,
    ),
  );

  const gc = await runCli(['--store', store, 'gc']);
  t.is(gc.code, 1);
  t.is(gc.stderr, `tml-imagetool: store is being written by pid ${child.pid}; run gc again when it is done\n`);
  t.is((await stat(blobPath(store, sha('small')))).size, 5);
  t.deepEqual(
    (await markers(store)).filter((n) => n.startsWith('.gc-')),
    [],
  );

  createWriteStream(fifo).end('data\n');
  t.is(await exitCode(child), 0);
  const id = stdout.trim();
  t.deepEqual(Object.keys((await readManifest(store, id)).blobs).sort(), ['a', 'b']);
  t.deepEqual(await markers(store), []);
  t.deepEqual((await verifyJson(store)).report.findings, []);
});

test('a writer waits while a gc runs, says so on stderr, and goes on once that gc is gone', async (t) => {
  const dir = await tempDir(t);
  const store = join(dir, 'store');
  await mkdir(store);
  const gcProcess = liveProcess(t);
  await writeFile(join(store, `.gc-${gcProcess.pid}-abcdef`), '');
  await writeFile(join(dir, 'f'), 'file');
  const child = startCli(['--store', store, 'create', '--label', 'w', '--blob', `f=${join(dir, 'f')}`]);
  t.teardown(() => {
    child.kill('SIGKILL');
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
  });
  await waitFor('the waiting notice', () => stderr.includes('\n'));
  t.is(stderr, `tml-imagetool: waiting for gc (pid ${gcProcess.pid}) to finish\n`);
  t.deepEqual(await listImageIds(store), []);

  gcProcess.kill('SIGKILL');
  t.is(await exitCode(child), 0);
  t.is((await listImageIds(store)).length, 1);
  t.deepEqual(await markers(store), [], "the dead gc's marker is cleaned up with the other leftovers");
});

test('a writer marker of a dead process does not block gc, which removes it as a leftover', async (t) => {
  const dir = await tempDir(t);
  const store = join(dir, 'store');
  await createSample(t, store, dir);
  const marker = `.writer-${await deadPid()}-0123ab`;
  await writeFile(join(store, marker), '');
  t.deepEqual(
    (await verifyJson(store)).report.findings.map((f) => `${f.kind} ${f.path}`),
    [`temp-leftover ${marker}`],
  );

  const gc = await runCli(['--store', store, 'gc']);
  t.is(gc.code, 0, gc.stderr);
  t.regex(gc.stdout, new RegExp(`^removed ${marker} \\(0 B, temp-leftover\\)$`, 'm'));
  t.deepEqual(await markers(store), []);
});

test('a live writer marker is not a verify finding, is never indexed, and makes gc --dry-run refuse too', async (t) => {
  const dir = await tempDir(t);
  const store = join(dir, 'store');
  await createSample(t, store, dir);
  const writer = liveProcess(t);
  const marker = `.writer-${writer.pid}-0123ab`;
  await writeFile(join(store, marker), '');
  t.deepEqual((await verifyJson(store)).report.findings, []);
  t.is((await runCli(['--store', store, 'index'])).code, 0);
  t.false((await readFile(join(store, 'all.txt'), 'utf8')).includes('.writer-'));
  const dry = await runCli(['--store', store, 'gc', '--dry-run']);
  t.is(dry.code, 1);
  t.is(dry.stderr, `tml-imagetool: store is being written by pid ${writer.pid}; run gc again when it is done\n`);
  t.deepEqual(await markers(store), [marker]);
});

test('a manifest is not stored when one of its blobs has vanished from the store since it was added', async (t) => {
  const dir = await tempDir(t);
  const store = join(dir, 'store');
  await writeFile(join(dir, 'f'), 'content');
  const id = await createImage(store, { label: 'orig', blobs: { f: { path: join(dir, 'f') } } });
  const manifest = await readManifest(store, id);
  await rm(blobPath(store, manifest.blobs.f!.digest));
  const err = await t.throwsAsync(storeManifest(store, { ...manifest, label: 'again' }), {
    instanceOf: ImageToolError,
  });
  t.regex(err.message, /^blob f \(blobs\/[0-9a-f/]+\) is no longer in the store; no manifest written/);
  t.deepEqual(await listImageIds(store), [id]);
});

test('a manifest is not stored when one of its blobs in the store has the wrong size', async (t) => {
  const dir = await tempDir(t);
  const store = join(dir, 'store');
  await writeFile(join(dir, 'f'), 'content');
  const id = await createImage(store, { label: 'orig', blobs: { f: { path: join(dir, 'f') } } });
  const manifest = await readManifest(store, id);
  await truncate(blobPath(store, manifest.blobs.f!.digest), 3);
  const err = await t.throwsAsync(storeManifest(store, { ...manifest, label: 'again' }), {
    instanceOf: ImageToolError,
  });
  t.regex(err.message, /^blob f \(blobs\/[0-9a-f/]+\) is 3 bytes, expected 7; no manifest written$/);
  t.deepEqual(await listImageIds(store), [id]);
});
