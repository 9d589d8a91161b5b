// The test VM image as a layered image in a store, for the qemu host's tests, benchmarks and demo:
// scripts/build-test-vm-image makes (or finds in its cache) the base disk, kernel and initramfs;
// `layer-0` is that disk, with the kernel as a direct-boot blob; `layer-1` holds the puppet and
// the workload (scripts/vm-image/make-local-layer), added with the imagetool's `layer`.

import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createImage, layerImage, QEMU_ATTR } from '../imagetool/index.js';
import { DIRECT_BOOT_ATTR } from '../supervisor/hosts/qemu/chain.js';

const run = promisify(execFile);

/** The repository's scripts/ directory (this file runs from dist/scripts/). */
const SCRIPTS = fileURLToPath(new URL('../../scripts/', import.meta.url));

export interface TestVmBase {
  dir: string;
  disk: string;
  kernel: string;
  initrd: string;
  cmdline: string;
  virtualSize: number;
  kernelVersion: string;
  buildSeconds: number;
  /** True when this call built it (false: it came from the cache). */
  built: boolean;
}

function parseEnv(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line);
    if (m) out[m[1]!] = m[2]!.replace(/^"(.*)"$/, '$1');
  }
  return out;
}

/** Builds the base (about half a minute here) or returns the cached one. */
export async function testVmBase(opts: { cacheDir?: string } = {}): Promise<TestVmBase> {
  const args = ['--quiet', ...(opts.cacheDir !== undefined ? ['--cache-dir', opts.cacheDir] : [])];
  const started = Date.now();
  const { stdout } = await run(join(SCRIPTS, 'build-test-vm-image'), args, { maxBuffer: 1024 * 1024 });
  const dir = stdout.trim().split('\n').pop()!;
  const info = parseEnv(await readFile(join(dir, 'info.env'), 'utf8'));
  return {
    dir,
    disk: join(dir, 'base.qcow2'),
    kernel: join(dir, 'vmlinuz'),
    initrd: join(dir, 'initrd.img'),
    cmdline: (await readFile(join(dir, 'cmdline'), 'utf8')).trim(),
    virtualSize: Number(info.TML_VM_VIRTUAL_SIZE),
    kernelVersion: info.TML_VM_KERNEL ?? '',
    buildSeconds: Number(info.TML_VM_BUILD_SECONDS),
    built: (await stat(join(dir, 'info.env'))).mtimeMs >= started,
  };
}

/** Writes layer-1 (puppet + workload script) on the base; returns its path. */
export async function makeLocalLayer(base: TestVmBase, bootScript: string, out: string): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'tml-vm-layer-'));
  try {
    const boot = join(dir, 'tml-boot');
    await writeFile(boot, bootScript, { mode: 0o755 });
    await run(join(SCRIPTS, 'vm-image', 'make-local-layer'), ['--base', base.dir, '--boot', boot, '--out', out]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Adds the base image (layer-0 + direct-boot kernel) to a store; returns its id. */
export async function storeBaseImage(storeDir: string, base: TestVmBase): Promise<string> {
  return createImage(storeDir, {
    label: 'Treadmill test VM base',
    description: `Debian ${base.kernelVersion} kernel, busybox init, Node, sshd (scripts/build-test-vm-image)`,
    attrs: {
      [QEMU_ATTR.head]: 'layer-0',
      [DIRECT_BOOT_ATTR.kernel]: 'kernel',
      [DIRECT_BOOT_ATTR.initrd]: 'initrd',
      [DIRECT_BOOT_ATTR.cmdline]: base.cmdline,
    },
    blobs: {
      'layer-0': { path: base.disk, attrs: { [QEMU_ATTR.virtualSize]: String(base.virtualSize) } },
      kernel: { path: base.kernel },
      initrd: { path: base.initrd },
    },
  });
}

/** The base plus a layer-1 running this workload; returns the layered image's id. */
export async function storeTestVmImage(
  storeDir: string,
  base: TestVmBase,
  bootScript: string,
  label = 'Treadmill test VM',
): Promise<string> {
  const baseId = await storeBaseImage(storeDir, base);
  const dir = await mkdtemp(join(tmpdir(), 'tml-vm-image-'));
  try {
    const layer = join(dir, 'layer-1.qcow2');
    await makeLocalLayer(base, bootScript, layer);
    return await layerImage(storeDir, { baseId, overlayPath: layer, label });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
