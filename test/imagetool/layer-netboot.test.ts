import anyTest from 'ava';
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createImage, readManifest } from '../../imagetool/index.js';
import { COMPRESSION_ATTR, NBD_LAYERED_ATTR, QEMU_LAYERED_ATTR } from '../../protocol/image-manifest.js';
import { haveTool, runCli, tempDir, verifyJson } from './helpers.js';

const run = promisify(execFile);
const test = haveTool('qemu-img', 'qemu-img', ['--version'], 'apt-get install qemu-utils') ? anyTest : anyTest.skip;

/** A netboot image as upstream's netboot supervisor reads it: head layer-0, layer-0-root (qcow2), layer-0-boot (tar). */
async function netbootBase(t: Parameters<typeof tempDir>[0]) {
  const dir = await tempDir(t);
  const store = join(dir, 'store');
  const root = join(dir, 'root.qcow2');
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', root, '4M']);
  const boot = join(dir, 'boot');
  await mkdir(boot);
  await writeFile(join(boot, 'config.txt'), 'arm_64bit=1\n');
  const baseId = await createImage(store, {
    label: 'raspberry pi base',
    attrs: { [NBD_LAYERED_ATTR.head]: 'layer-0' },
    blobs: {
      'layer-0-root': { path: root, attrs: { [NBD_LAYERED_ATTR.virtualSize]: '4194304' } },
      'layer-0-boot': { dir: boot },
    },
  });
  const overlay = join(dir, 'overlay.qcow2');
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', root, '-F', 'qcow2', overlay, '6M']);
  return { dir, store, baseId, overlay };
}

test('layer on a netboot image adds layer-1-root on layer-0-root, carries the boot tar over, moves .head', async (t) => {
  const { store, baseId, overlay } = await netbootBase(t);
  const r = await runCli(['--store', store, 'layer', '--base', baseId, '--blob', overlay, '--label', 'with tests']);
  t.is(r.code, 0, r.stderr);
  const base = await readManifest(store, baseId);
  const m = await readManifest(store, r.stdout.trim());
  t.is(m.attrs[NBD_LAYERED_ATTR.head], 'layer-1');
  t.deepEqual(Object.keys(m.blobs).sort(), ['layer-0-boot', 'layer-0-root', 'layer-1-boot', 'layer-1-root']);
  t.deepEqual(m.blobs['layer-1-root']!.attrs, {
    [NBD_LAYERED_ATTR.lower]: 'layer-0-root',
    [NBD_LAYERED_ATTR.virtualSize]: '6291456',
  });
  t.deepEqual(m.blobs['layer-1-boot'], base.blobs['layer-0-boot']);
  t.deepEqual(m.blobs['layer-0-root'], base.blobs['layer-0-root']);
  const { code, report } = await verifyJson(store);
  t.is(code, 0, JSON.stringify(report.findings));
  t.is((report as unknown as { chains: number }).chains, 2);
});

test('layer --boot-dir packs the new boot partition as layer-N-boot (with --zstd, compressed and marked)', async (t) => {
  const { dir, store, baseId, overlay } = await netbootBase(t);
  const newBoot = join(dir, 'new-boot');
  await mkdir(newBoot);
  await writeFile(join(newBoot, 'config.txt'), 'arm_64bit=1\ndtoverlay=test\n');
  const r = await runCli([
    '--store',
    store,
    'layer',
    '--base',
    baseId,
    '--blob',
    overlay,
    '--label',
    'new boot',
    '--boot-dir',
    newBoot,
    '--zstd',
  ]);
  t.is(r.code, 0, r.stderr);
  const base = await readManifest(store, baseId);
  const m = await readManifest(store, r.stdout.trim());
  t.not(m.blobs['layer-1-boot']!.digest, base.blobs['layer-0-boot']!.digest);
  t.deepEqual(m.blobs['layer-1-boot']!.attrs, { [COMPRESSION_ATTR]: 'zstd' });
  const { stdout } = await run('tar', ['-tf', join(store, 'blobs', ...shard(m.blobs['layer-1-boot']!.digest))]);
  t.is(stdout, 'config.txt\n');
  t.is((await verifyJson(store)).code, 0);
});

test('--boot-dir on a QEMU base image is refused', async (t) => {
  const dir = await tempDir(t);
  const store = join(dir, 'store');
  const disk = join(dir, 'disk.qcow2');
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', disk, '1M']);
  const baseId = await createImage(store, {
    label: 'q',
    attrs: { [QEMU_LAYERED_ATTR.head]: 'layer-0' },
    blobs: { 'layer-0': { path: disk, attrs: { [QEMU_LAYERED_ATTR.virtualSize]: '1048576' } } },
  });
  await mkdir(join(dir, 'boot'));
  const r = await runCli([
    '--store',
    store,
    'layer',
    '--base',
    baseId,
    '--blob',
    disk,
    '--label',
    'x',
    '--boot-dir',
    join(dir, 'boot'),
  ]);
  t.is(r.code, 1);
  t.is(r.stderr, 'tml-imagetool: a boot directory belongs to netboot images; the base is a QEMU image\n');
});

function shard(d: string): string[] {
  return [d.slice(0, 2), d.slice(2, 4), d.slice(4, 6), d];
}
