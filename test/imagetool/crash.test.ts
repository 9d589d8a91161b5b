import test from 'ava';
import { execFile, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { blobPath, createImage, readManifest } from '../../imagetool/index.js';
import { runCli, startCli, tempDir, verifyJson } from './helpers.js';

const sh = promisify(execFile);

function killHard(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
}

async function waitFor(what: string, check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (await check()) return;
    await sleep(25);
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function tempFilesIn(dir: string): Promise<Array<{ name: string; size: number }>> {
  const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => n.startsWith('.tmp-'));
  return Promise.all(names.map(async (name) => ({ name, size: (await stat(join(dir, name))).size })));
}

/** After a crash: every finding is a temp leftover, i.e. no file under a final name fails verify. */
async function onlyLeftovers(t: Parameters<typeof tempDir>[0], store: string): Promise<void> {
  if (
    !(await stat(store).then(
      () => true,
      () => false,
    ))
  )
    return; // killed before it wrote anything
  const { report } = await verifyJson(store);
  t.deepEqual(
    report.findings.filter((f) => f.kind !== 'temp-leftover'),
    [],
  );
}

test('create killed with -9 in the middle of a blob leaves only temp leftovers (the partial blob and its writer marker), which the next run removes', async (t) => {
  const dir = await tempDir(t);
  const store = join(dir, 'store');
  const fifo = join(dir, 'slow-source');
  await sh('mkfifo', [fifo]);
  const child = startCli(['--store', store, 'create', '--label', 'big', '--blob', `disk=${fifo}`]);
  t.teardown(() => killHard(child));
  // The FIFO holds the writer back: create has copied exactly what we fed it and waits for more.
  const feeder = createWriteStream(fifo).on('error', () => {}); // EPIPE once the reader is killed
  feeder.write(Buffer.alloc(3 << 20, 0x5a));
  await waitFor('a partial temp blob', async () => (await tempFilesIn(join(store, 'blobs'))).some((f) => f.size > 0));
  await killHard(child);
  feeder.destroy();

  const leftovers = await tempFilesIn(join(store, 'blobs'));
  t.is(leftovers.length, 1);
  t.deepEqual(await readdir(store).then((n) => n.filter((x) => x === 'images' || x === 'image.txt')), []);
  const markers = (await readdir(store)).filter((n) => n.startsWith('.writer-'));
  t.is(markers.length, 1);
  const { report } = await verifyJson(store);
  t.deepEqual(
    report.findings.map((f) => `${f.kind} ${f.path}`),
    [`temp-leftover ${markers[0]}`, `temp-leftover blobs/${leftovers[0]!.name}`],
  );

  await writeFile(join(dir, 'small'), 'small');
  const next = await runCli(['--store', store, 'create', '--label', 'next', '--blob', `s=${join(dir, 'small')}`]);
  t.is(next.code, 0, next.stderr);
  t.deepEqual(await tempFilesIn(join(store, 'blobs')), []);
  t.deepEqual(
    (await readdir(store)).filter((n) => n.startsWith('.writer-')),
    [],
  );
  t.deepEqual((await verifyJson(store)).report.findings, []);
});

test('create killed with -9 at any moment never leaves a final-named file that fails verify', async (t) => {
  const dir = await tempDir(t);
  const source = join(dir, 'disk.img');
  await writeFile(source, Buffer.alloc(48 << 20, 0x33));
  const args = (store: string): string[] => [
    '--store',
    store,
    'create',
    '--label',
    'k',
    '--blob',
    `disk=${source}`,
    '--blob',
    `boot=${source}`,
  ];
  const started = Date.now();
  const full = await runCli(args(join(dir, 'reference')));
  t.is(full.code, 0, full.stderr);
  const runtime = Date.now() - started;
  for (let i = 0; i < 6; i++) {
    const store = join(dir, `s${i}`);
    const child = startCli(args(store));
    await sleep((runtime * (i + 1)) / 7);
    await killHard(child);
    await onlyLeftovers(t, store);
    const image = await readFile(join(store, 'image.txt'), 'utf8').catch(() => null);
    if (image !== null) t.is(image, full.stdout);
  }
});

test('copy killed with -9 in the middle of a blob leaves no manifest and only a temp leftover in the target', async (t) => {
  const dir = await tempDir(t);
  const src = join(dir, 'src');
  const dst = join(dir, 'dst');
  await writeFile(join(dir, 'disk'), Buffer.alloc(1 << 20, 1));
  const id = await createImage(src, { label: 'c', blobs: { disk: { path: join(dir, 'disk') } } });
  // Swap the source blob for a FIFO so the copy stalls mid-blob, under our control.
  const digest = (await readManifest(src, id)).blobs.disk!.digest;
  await rm(blobPath(src, digest));
  await sh('mkfifo', [blobPath(src, digest)]);
  const child = startCli(['--store', src, 'copy', id, '--to', dst]);
  t.teardown(() => killHard(child));
  const feeder = createWriteStream(blobPath(src, digest)).on('error', () => {});
  feeder.write(Buffer.alloc(512 << 10, 1));
  await waitFor('a partial temp blob in the target', async () =>
    (await tempFilesIn(join(dst, 'blobs'))).some((f) => f.size > 0),
  );
  await killHard(child);
  feeder.destroy();
  await onlyLeftovers(t, dst);
  t.deepEqual(await readdir(join(dst, 'images')).catch(() => []), []);
});

test('index killed with -9 at any moment leaves all.txt either the old or the complete new index', async (t) => {
  const dir = await tempDir(t);
  const store = join(dir, 'store');
  await writeFile(join(dir, 'f'), 'f');
  await createImage(store, { label: 'i', blobs: { f: { path: join(dir, 'f') } } });
  // Many files make the walk long enough to be interrupted at different points.
  for (let i = 0; i < 40; i++) {
    await mkdir(join(store, 'extra', String(i)), { recursive: true });
    await Promise.all(
      Array.from({ length: 100 }, (_, j) => writeFile(join(store, 'extra', String(i), `file${j}`), '')),
    );
  }
  await writeFile(join(store, 'all.txt'), 'old index\n');
  const started = Date.now();
  const r = await runCli(['--store', store, 'index']);
  t.is(r.code, 0, r.stderr);
  const runtime = Date.now() - started;
  const complete = await readFile(join(store, 'all.txt'), 'utf8');
  t.is(complete.split('\n').length, 4003);
  for (let i = 0; i < 6; i++) {
    await writeFile(join(store, 'all.txt'), 'old index\n');
    const child = startCli(['--store', store, 'index']);
    await sleep((runtime * (i + 1)) / 7);
    await killHard(child);
    await exited(child);
    t.true(['old index\n', complete].includes(await readFile(join(store, 'all.txt'), 'utf8')));
    await onlyLeftovers(t, store);
  }
});
