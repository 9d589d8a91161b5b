import anyTest from 'ava';
import { execFile } from 'node:child_process';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { blobPath, blobRelPath, createImage, readManifest, sha256Hex } from '../../imagetool/index.js';
import { QEMU_LAYERED_ATTR } from '../../protocol/image-manifest.js';
import { haveTool, runCli, tempDir, verifyJson } from './helpers.js';

const run = promisify(execFile);
const test = haveTool('qemu-img', 'qemu-img', ['--version'], 'apt-get install qemu-utils') ? anyTest : anyTest.skip;

async function layeredBase(
  t: Parameters<typeof tempDir>[0],
): Promise<{ dir: string; store: string; baseId: string; overlay: string }> {
  const dir = await tempDir(t);
  const store = join(dir, 'store');
  const base = join(dir, 'base.qcow2');
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', base, '4M']);
  const baseId = await createImage(store, {
    label: 'base',
    description: 'base disk',
    attrs: { [QEMU_LAYERED_ATTR.head]: 'layer-0' },
    blobs: { 'layer-0': { path: base, attrs: { [QEMU_LAYERED_ATTR.virtualSize]: '4194304' } } },
  });
  const overlay = join(dir, 'overlay.qcow2');
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', base, '-F', 'qcow2', overlay, '8M']);
  return { dir, store, baseId, overlay };
}

test('layer adds layer-N+1 on the base: .lower set, .head moved, virtual sizes kept, new label', async (t) => {
  const { store, baseId, overlay } = await layeredBase(t);
  const r = await runCli([
    '--store',
    store,
    'layer',
    '--base',
    baseId.slice(0, 8),
    '--blob',
    overlay,
    '--label',
    'with overlay',
    '--revision',
    '4',
    '--description',
    'adds a layer',
  ]);
  t.is(r.code, 0, r.stderr);
  const id = r.stdout.trim();
  const base = await readManifest(store, baseId);
  const m = await readManifest(store, id);
  t.is(m.label, 'with overlay');
  t.is(m.revision, 4);
  t.is(m.description, 'adds a layer');
  t.is(m.attrs[QEMU_LAYERED_ATTR.head], 'layer-1');
  t.deepEqual(m.blobs['layer-0'], base.blobs['layer-0']);
  t.deepEqual(m.blobs['layer-1']!.attrs, {
    [QEMU_LAYERED_ATTR.lower]: 'layer-0',
    [QEMU_LAYERED_ATTR.virtualSize]: '8388608',
  });
  t.is((await readFile(join(store, 'image.txt'), 'utf8')).trim(), id);
  t.is((await verifyJson(store)).code, 0);
});

test("the stored overlay's backing file is the lower blob's relative store path, and the chain opens", async (t) => {
  const { store, baseId, overlay } = await layeredBase(t);
  const id = (
    await runCli(['--store', store, 'layer', '--base', baseId, '--blob', overlay, '--label', 'l'])
  ).stdout.trim();
  const m = await readManifest(store, id);
  const lower = m.blobs['layer-0']!.digest;
  const top = blobPath(store, m.blobs['layer-1']!.digest);
  const { stdout } = await run('qemu-img', ['info', '--output=json', '--backing-chain', top]);
  const chain = JSON.parse(stdout) as Array<{ 'backing-filename'?: string; filename: string }>;
  t.is(chain[0]!['backing-filename'], `../../../${blobRelPath(lower).slice('blobs/'.length)}`);
  t.is(chain.length, 2);
});

test("layer never modifies the user's overlay file", async (t) => {
  const { store, baseId, overlay } = await layeredBase(t);
  const before = sha256Hex(await readFile(overlay));
  t.is((await runCli(['--store', store, 'layer', '--base', baseId, '--blob', overlay, '--label', 'l'])).code, 0);
  t.is(sha256Hex(await readFile(overlay)), before);
});

test('layers stack: an overlay on a layered image becomes layer-2', async (t) => {
  const { dir, store, baseId, overlay } = await layeredBase(t);
  const mid = (
    await runCli(['--store', store, 'layer', '--base', baseId, '--blob', overlay, '--label', 'mid'])
  ).stdout.trim();
  const second = join(dir, 'second.qcow2');
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', overlay, '-F', 'qcow2', second]);
  const r = await runCli(['--store', store, 'layer', '--base', mid, '--blob', second, '--label', 'top']);
  t.is(r.code, 0, r.stderr);
  const m = await readManifest(store, r.stdout.trim());
  t.is(m.attrs[QEMU_LAYERED_ATTR.head], 'layer-2');
  t.is(m.blobs['layer-2']!.attrs[QEMU_LAYERED_ATTR.lower], 'layer-1');
});

test('layer without qemu-img on PATH fails with a clear message and stores no image', async (t) => {
  const { store, baseId, overlay } = await layeredBase(t);
  const r = await runCli(['--store', store, 'layer', '--base', baseId, '--blob', overlay, '--label', 'l'], {
    env: { PATH: '/nonexistent' },
  });
  t.is(r.code, 1);
  t.regex(
    r.stderr,
    /^tml-imagetool: qemu-img not found: install qemu-img \(Debian\/Ubuntu: apt-get install qemu-utils\)\n$/,
  );
  const images = await readdir(join(store, 'images'), { recursive: true });
  t.is(images.filter((p) => /[0-9a-f]{64}$/.test(p)).length, 1);
  t.deepEqual(
    (await readdir(join(store, 'blobs'))).filter((n) => n.startsWith('.tmp-')),
    [],
  );
});

test('layer refuses a file that is not qcow2, and a base that is not a layered image', async (t) => {
  const { dir, store, baseId, overlay } = await layeredBase(t);
  await writeFile(join(dir, 'raw.img'), Buffer.alloc(4096));
  const notQcow = await runCli([
    '--store',
    store,
    'layer',
    '--base',
    baseId,
    '--blob',
    join(dir, 'raw.img'),
    '--label',
    'l',
  ]);
  t.is(notQcow.code, 1);
  t.regex(notQcow.stderr, /raw\.img is not a qcow2 image/);
  await writeFile(join(dir, 'k'), 'kernel');
  const plain = await createImage(store, { label: 'plain', blobs: { kernel: { path: join(dir, 'k') } } });
  const notLayered = await runCli(['--store', store, 'layer', '--base', plain, '--blob', overlay, '--label', 'l']);
  t.is(notLayered.code, 1);
  t.regex(
    notLayered.stderr,
    /no org\.tockos\.treadmill\.image\.qemu_layered_v0\.head or org\.tockos\.treadmill\.image\.nbd_qcow2_layered_v0\.head attribute/,
  );
});

test("layer checks the new manifest's limits before copying anything into the store", async (t) => {
  const { store, baseId, overlay } = await layeredBase(t);
  const r = await runCli(['--store', store, 'layer', '--base', baseId, '--blob', overlay, '--label', 'x'.repeat(65)]);
  t.is(r.code, 1);
  t.regex(r.stderr, /^tml-imagetool: label is 65 bytes, at most 64 allowed\n$/);
  t.deepEqual(
    (await readdir(join(store, 'blobs'), { recursive: true })).filter((p) => /[0-9a-f]{64}$/.test(p)).length,
    1,
  );
});
