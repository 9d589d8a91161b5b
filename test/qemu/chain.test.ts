// qemu-img info and the layered-image chain check, over fake files.
import test from 'ava';
import fc from 'fast-check';
import type { Manifest } from '../../imagetool/index.js';
import {
  ChainError,
  checkChain,
  directBoot,
  parseQemuImgInfo,
  QEMU_LAYERED_ATTR as A,
  type Qcow2Info,
} from '../../supervisor/hosts/qemu/chain.js';

const INFO = {
  'virtual-size': 1048576,
  filename: '/store/blobs/top',
  format: 'qcow2',
  'format-specific': { type: 'qcow2', data: { corrupt: false } },
  'backing-filename': '../../../aa/aa/aa/bottom',
  'full-backing-filename': '/store/blobs/bottom',
  'backing-filename-format': 'qcow2',
};

test('qemu-img info JSON is read into the fields the chain check needs', (t) => {
  t.deepEqual(parseQemuImgInfo(INFO), {
    filename: '/store/blobs/top',
    format: 'qcow2',
    virtualSize: 1048576,
    encrypted: false,
    corrupt: false,
    backingFilename: '../../../aa/aa/aa/bottom',
    fullBackingFilename: '/store/blobs/bottom',
    backingFormat: 'qcow2',
    children: null,
  });
});

test('any qemu-img info value parses or fails with a ChainError', (t) => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.anything(),
        fc.record({
          filename: fc.anything(),
          format: fc.anything(),
          'virtual-size': fc.anything(),
          children: fc.anything(),
        }),
      ),
      (v) => {
        try {
          parseQemuImgInfo(v);
        } catch (err) {
          if (!(err instanceof ChainError)) throw err;
        }
      },
    ),
  );
  t.pass();
});

const D0 = '0'.repeat(64);

const D1 = '1'.repeat(64);

function layered(over: { lower?: string; size0?: string; size1?: string } = {}): Manifest {
  return {
    label: 'l',
    revision: 0,
    description: '',
    attrs: { [A.head]: 'layer-1' },
    blobs: {
      'layer-0': { digest: D0, size: 1, attrs: { [A.virtualSize]: over.size0 ?? '1048576' } },
      'layer-1': {
        digest: D1,
        size: 1,
        attrs: { [A.virtualSize]: over.size1 ?? '1048576', [A.lower]: over.lower ?? 'layer-0' },
      },
    },
  };
}

function info(path: string, patch: Partial<Qcow2Info> = {}): Qcow2Info {
  return {
    filename: path,
    format: 'qcow2',
    virtualSize: 1048576,
    encrypted: false,
    corrupt: false,
    backingFilename: null,
    fullBackingFilename: null,
    backingFormat: null,
    children: null,
    ...patch,
  };
}

function deps(files: Record<string, Qcow2Info>) {
  return {
    blobPath: (digest: string) => `/store/${digest.slice(0, 1)}`,
    realpath: async (p: string) => {
      if (!(p in files)) throw new Error('ENOENT');
      return p;
    },
    info: async (p: string) => files[p]!,
  };
}

const GOOD = {
  '/store/1': info('/store/1', { fullBackingFilename: '/store/0', backingFilename: '../0', backingFormat: 'qcow2' }),
  '/store/0': info('/store/0'),
};

test('a sound two-layer chain gives the head path and virtual size', async (t) => {
  t.deepEqual(await checkChain(layered(), deps(GOOD), 2 ** 30), {
    headPath: '/store/1',
    virtualSize: 1048576,
    layers: ['layer-1', 'layer-0'],
  });
});

for (const [name, manifest, files, max, message] of [
  ['no head attribute', { ...layered(), attrs: {} }, GOOD, 2 ** 30, /not a qemu_layered_v0 image/],
  [
    'a virtual size that differs from the manifest',
    layered({ size0: '5' }),
    GOOD,
    2 ** 30,
    /layer layer-0: virtual size 1048576 bytes differs from the manifest's 5/,
  ],
  [
    'a lower that is not the backing file',
    layered(),
    { ...GOOD, '/store/1': info('/store/1', { fullBackingFilename: '/elsewhere' }), '/elsewhere': info('/elsewhere') },
    2 ** 30,
    /its backing file is \/elsewhere, not the store path of layer-0/,
  ],
  [
    'a missing backing file',
    layered(),
    { ...GOOD, '/store/1': info('/store/1', { fullBackingFilename: '/gone' }) },
    2 ** 30,
    /backing file \/gone does not exist/,
  ],
  [
    'a bottom layer with a backing file',
    layered(),
    { ...GOOD, '/store/0': info('/store/0', { backingFilename: 'x', fullBackingFilename: '/x' }) },
    2 ** 30,
    /bottom layer .* has a backing file/,
  ],
  [
    'an encrypted layer',
    layered(),
    { ...GOOD, '/store/0': info('/store/0', { encrypted: true }) },
    2 ** 30,
    /encrypted/,
  ],
  [
    'a raw backing format',
    layered(),
    { ...GOOD, '/store/1': { ...GOOD['/store/1'], backingFormat: 'raw' } },
    2 ** 30,
    /backing file format is raw/,
  ],
  [
    'a lower naming a blob the image lacks',
    layered({ lower: 'layer-9' }),
    GOOD,
    2 ** 30,
    /names blob layer-9, which is missing/,
  ],
  ['a disk larger than working_disk_max_bytes', layered(), GOOD, 1000, /larger than working_disk_max_bytes/],
  [
    'other than one child node (QEMU >= 8)',
    layered(),
    { ...GOOD, '/store/1': { ...GOOD['/store/1'], children: [] } },
    2 ** 30,
    /exactly one child/,
  ],
] as const) {
  test(`the chain check refuses ${name}`, async (t) => {
    await t.throwsAsync(checkChain(manifest as Manifest, deps(files as Record<string, Qcow2Info>), max), {
      instanceOf: ChainError,
      message,
    });
  });
}

test('a chain that loops back on itself is refused', async (t) => {
  const m = layered();
  m.blobs['layer-0']!.attrs[A.lower] = 'layer-1';
  const files = { ...GOOD, '/store/0': info('/store/0', { fullBackingFilename: '/store/1' }) };
  await t.throwsAsync(checkChain(m, deps(files), 2 ** 30), { instanceOf: ChainError, message: /cycle/ });
});

test('the direct-boot extension names kernel and initramfs blobs; images without it have none', (t) => {
  const m = layered();
  t.is(
    directBoot(m, (d) => d),
    null,
  );
  m.attrs['org.tockos.treadmill.image.qemu_direct_boot_v0.kernel'] = 'layer-0';
  t.deepEqual(
    directBoot(m, (d) => `/b/${d.slice(0, 1)}`),
    { kernel: '/b/0', initrd: null, cmdline: 'console=ttyS0' },
  );
});
