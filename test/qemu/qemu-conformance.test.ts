// The host-backend conformance suite against the qemu host, with real VMs (direct kernel boot of
// the test image, to keep the suite's wall time down; the UEFI path is covered in qemu-jobs).

import test from 'ava';
import { recordingLogger } from '../helpers/log.js';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createImage, QEMU_ATTR, readManifest } from '../../imagetool/index.js';
import { storeTestVmImage } from '../../scripts/test-vm-image.js';
import { QemuHostBackend } from '../../supervisor/hosts/qemu/backend.js';
import { defaultQemuConfig } from '../../supervisor/hosts/qemu/config.js';
import { hostConformance, type ConformanceSetup } from '../supervisor/host-conformance.js';
import { jobLeftovers, sharedBase, vmLock, vmTestsCanRun } from './vm.js';

let setup: ConformanceSetup | null = null;
let release: (() => void) | null = null;
let dir = '';

if (vmTestsCanRun(test, 'qemu host conformance tests')) {
  test.before(async (t) => {
    t.timeout(15 * 60_000);
    release = await vmLock();
    const base = await sharedBase();
    dir = await mkdtemp(join(tmpdir(), 'tml-qemu-conformance-'));
    const storeDir = join(dir, 'store');
    const stateDir = join(dir, 'state');
    const backend = new QemuHostBackend({
      config: {
        ...defaultQemuConfig(),
        stateDir,
        directKernelBoot: true,
        readyTimeoutMs: 120_000,
        shutdownTimeoutMs: 15_000,
      },
      log: recordingLogger((level, line) => {
        if (level !== 'debug') console.error(line);
      }),
    });
    await backend.accelerator();
    setup = {
      backend,
      image: async (script) => {
        const imageId = await storeTestVmImage(storeDir, base, script);
        return { storeDir, imageId, manifest: await readManifest(storeDir, imageId) };
      },
      unstartableImage: async () => {
        // A "disk" that is no qcow2 file: the chain check refuses it before QEMU starts.
        const junk = join(dir, 'junk.img');
        await writeFile(junk, 'not a disk image\n');
        const imageId = await createImage(storeDir, {
          label: 'junk layer',
          attrs: { [QEMU_ATTR.head]: 'layer-0' },
          blobs: { 'layer-0': { path: junk, attrs: { [QEMU_ATTR.virtualSize]: '17' } } },
        });
        return { storeDir, imageId, manifest: await readManifest(storeDir, imageId) };
      },
      selfEnd: 'systemctl poweroff',
      scratch: dir,
      leftovers: async (jobId) => jobLeftovers(stateDir, jobId),
      bootTimeoutMs: 120_000,
    };
  });

  test.after.always(async () => {
    if (dir !== '') await rm(dir, { recursive: true, force: true });
    release?.();
  });

  hostConformance(test, 'qemu', () => setup);
}
