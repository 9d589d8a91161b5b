import anyTest from 'ava';
import { execFile } from 'node:child_process';
import fc from 'fast-check';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  assertImageChain,
  blobPath,
  blobRelPath,
  checkImageChain,
  createImage,
  ImageToolError,
  parseQemuImgInfo,
  readManifest,
} from '../../imagetool/index.js';
import { NBD_LAYERED_ATTR, QEMU_LAYERED_ATTR } from '../../protocol/image-manifest.js';
import { haveTool, runCli, tempDir, verifyJson } from './helpers.js';

const run = promisify(execFile);
const test = haveTool('qemu-img', 'qemu-img', ['--version'], 'apt-get install qemu-utils') ? anyTest : anyTest.skip;

async function qcow2(path: string, size: string, backing?: string): Promise<void> {
  const args = ['create', '-q', '-f', 'qcow2'];
  if (backing !== undefined) args.push('-b', backing, '-F', 'qcow2');
  await run('qemu-img', [...args, path, size]);
}

/** A two-layer QEMU image made with `layer`, as an author would. */
async function layeredStore(t: Parameters<typeof tempDir>[0]) {
  const dir = await tempDir(t);
  const store = join(dir, 'store');
  await qcow2(join(dir, 'base.qcow2'), '4M');
  const baseId = await createImage(store, {
    label: 'base',
    attrs: { [QEMU_LAYERED_ATTR.head]: 'layer-0' },
    blobs: { 'layer-0': { path: join(dir, 'base.qcow2'), attrs: { [QEMU_LAYERED_ATTR.virtualSize]: '4194304' } } },
  });
  await qcow2(join(dir, 'top.qcow2'), '4M', join(dir, 'base.qcow2'));
  const r = await runCli([
    '--store',
    store,
    'layer',
    '--base',
    baseId,
    '--blob',
    join(dir, 'top.qcow2'),
    '--label',
    'top',
  ]);
  t.is(r.code, 0, r.stderr);
  return { dir, store, baseId, id: r.stdout.trim() };
}

test('verify checks the qcow2 chain of every layered image and finds a sound one sound', async (t) => {
  const { store } = await layeredStore(t);
  const { code, report } = await verifyJson(store);
  t.is(code, 0, JSON.stringify(report.findings));
  t.is((report as unknown as { chains: number }).chains, 2);
});

test('a blob whose backing path points elsewhere than its .lower blob is named, as a finding of its own', async (t) => {
  const dir = await tempDir(t);
  const store = join(dir, 'store');
  // The overlay keeps the author's absolute backing path instead of the lower blob's store path.
  await qcow2(join(dir, 'base.qcow2'), '4M');
  await qcow2(join(dir, 'top.qcow2'), '4M', join(dir, 'base.qcow2'));
  const id = await createImage(store, {
    label: 'hand-made',
    attrs: { [QEMU_LAYERED_ATTR.head]: 'layer-1' },
    blobs: {
      'layer-0': { path: join(dir, 'base.qcow2'), attrs: { [QEMU_LAYERED_ATTR.virtualSize]: '4194304' } },
      'layer-1': {
        path: join(dir, 'top.qcow2'),
        attrs: { [QEMU_LAYERED_ATTR.virtualSize]: '4194304', [QEMU_LAYERED_ATTR.lower]: 'layer-0' },
      },
    },
  });
  const m = await readManifest(store, id);
  const { code, report } = await verifyJson(store);
  t.is(code, 1);
  t.deepEqual(
    report.findings.map((f) => `${f.kind} ${f.path}`),
    [`qcow2-chain ${blobRelPath(m.blobs['layer-1']!.digest)}`],
  );
  t.is(
    report.findings[0]!.message,
    `image ${id}: blob layer-1: backing file ${JSON.stringify(join(dir, 'base.qcow2'))} is ${join(dir, 'base.qcow2')}, not blob layer-0 (${blobRelPath(m.blobs['layer-0']!.digest)})`,
  );
  await t.throwsAsync(assertImageChain(store, m), {
    instanceOf: ImageToolError,
    message: /^qcow2 chain check failed: blob layer-1: backing file .* not blob layer-0 /,
  });
});

test('a virtual size that differs from the attribute, and a backing file without .lower, are named', async (t) => {
  const dir = await tempDir(t);
  const store = join(dir, 'store');
  await qcow2(join(dir, 'base.qcow2'), '4M');
  await qcow2(join(dir, 'top.qcow2'), '8M', join(dir, 'base.qcow2'));
  const id = await createImage(store, {
    label: 'wrong',
    attrs: { [QEMU_LAYERED_ATTR.head]: 'layer-1' },
    blobs: {
      'layer-0': { path: join(dir, 'base.qcow2'), attrs: { [QEMU_LAYERED_ATTR.virtualSize]: '4194304' } },
      'layer-1': { path: join(dir, 'top.qcow2'), attrs: { [QEMU_LAYERED_ATTR.virtualSize]: '4194304' } },
    },
  });
  const problems = (await checkImageChain(store, await readManifest(store, id))).map((p) => p.message);
  t.deepEqual(problems, [
    'blob layer-1: virtual size is 8388608 bytes, org.tockos.treadmill.image.qemu_layered_v0.blob-virtual-size says 4194304',
    `blob layer-1: has no org.tockos.treadmill.image.qemu_layered_v0.lower attribute but its backing file is ${JSON.stringify(join(dir, 'base.qcow2'))}`,
  ]);
});

test('a netboot root chain is checked with the nbd attributes, from <head>-root down', async (t) => {
  const dir = await tempDir(t);
  const store = join(dir, 'store');
  await qcow2(join(dir, 'root.qcow2'), '2M');
  const id = await createImage(store, {
    label: 'pi',
    attrs: { [NBD_LAYERED_ATTR.head]: 'layer-0' },
    blobs: { 'layer-0-root': { path: join(dir, 'root.qcow2'), attrs: { [NBD_LAYERED_ATTR.virtualSize]: '1048576' } } },
  });
  const problems = await checkImageChain(store, await readManifest(store, id));
  t.deepEqual(
    problems.map((p) => p.message),
    [`blob layer-0-root: virtual size is 2097152 bytes, ${NBD_LAYERED_ATTR.virtualSize} says 1048576`],
  );
});

test('assertImageChain gives the top blob path of a sound chain, for the per-job disk', async (t) => {
  const { store, id } = await layeredStore(t);
  const m = await readManifest(store, id);
  t.is(await assertImageChain(store, m), blobPath(store, m.blobs['layer-1']!.digest));
});

test('without qemu-img, verify says the chains were not checked and judges the rest', async (t) => {
  const { store } = await layeredStore(t);
  const r = await runCli(['--store', store, 'verify'], { env: { PATH: '/nonexistent' } });
  t.is(r.code, 0, r.stderr);
  t.regex(r.stderr, /^tml-imagetool: warning: qcow2 chains not checked: qemu-img not found: install qemu-img/);
});

anyTest("parsing qemu-img's JSON gives its fields or our one-line error for any input", (t) => {
  const json = fc.jsonValue({ maxDepth: 3 });
  const shaped = fc.record(
    {
      filename: fc.oneof(fc.string(), fc.integer()),
      'virtual-size': fc.oneof(fc.integer(), fc.double(), fc.string()),
      encrypted: fc.oneof(fc.boolean(), fc.string()),
      children: fc.oneof(json, fc.array(fc.record({ info: fc.record({ filename: fc.string(), children: json }) }))),
      'backing-filename': json,
      'full-backing-filename': fc.string(),
    },
    { requiredKeys: [] },
  );
  fc.assert(
    fc.property(
      fc.oneof(
        json.map((v) => JSON.stringify(v)),
        shaped.map((v) => JSON.stringify(v)),
        fc.string(),
      ),
      (text) => {
        try {
          const info = parseQemuImgInfo(text);
          return typeof info.filename === 'string' && Number.isSafeInteger(info.virtualSize);
        } catch (err) {
          return err instanceof ImageToolError && !err.message.includes('\n');
        }
      },
    ),
  );
  t.deepEqual(
    parseQemuImgInfo(
      JSON.stringify({
        filename: 'f',
        'virtual-size': 1,
        children: [{ name: 'file', info: { filename: 'f', children: [] } }],
      }),
    ).children,
    [{ filename: 'f', children: 0 }],
  );
});
