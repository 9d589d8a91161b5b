// The qemu host's start errors that need no VM: each ends in one line, with the job directory gone.
// A tiny real image (one empty qcow2 layer) passes the chain check; QEMU itself is never booted.

import test from 'ava';
import { silentLogger } from '../../protocol/log.js';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createImage, QEMU_ATTR, readManifest, type Manifest } from '../../imagetool/index.js';
import type { HostCallbacks } from '../../supervisor/hosts/host.js';
import { QemuHostBackend } from '../../supervisor/hosts/qemu/backend.js';
import { defaultQemuConfig, type QemuConfig } from '../../supervisor/hosts/qemu/config.js';
import { TCG } from '../../supervisor/hosts/qemu/accel.js';

let qemuImg = true;
try {
  execFileSync('qemu-img', ['--version'], { stdio: 'ignore' });
} catch {
  qemuImg = false;
}

let dir = '';
let image: { storeDir: string; imageId: string; manifest: Manifest };

/** Starts a job with this config and resolves with its start error (rejects on ready or exit). */
async function startError(config: Partial<QemuConfig>): Promise<{ message: string; workdir: string }> {
  const stateDir = join(dir, `state-${Math.random().toString(16).slice(2)}`);
  const backend = new QemuHostBackend({
    config: { ...defaultQemuConfig(), stateDir, ...config },
    log: silentLogger,
    accel: { ...TCG, reason: 'test' },
  });
  const jobId = '00000000-0000-4000-8000-00000000e001';
  let failed!: (message: string) => void;
  let wrong!: (err: Error) => void;
  const error = new Promise<string>((resolve, reject) => {
    failed = resolve;
    wrong = reject;
  });
  const cb: HostCallbacks = {
    onStage: () => {},
    onReady: () => wrong(new Error('the host became ready')),
    onRebooting: () => {},
    onPuppetEvent: () => {},
    onConsole: () => {},
    onStartError: (message) => failed(message),
    onExit: () => wrong(new Error('the host exited')),
  };
  const host = backend.start({ ...image, jobId, jobDir: dir, sshKeys: [], parameters: {} }, cb);
  try {
    return { message: await error, workdir: join(stateDir, 'jobs', jobId) };
  } finally {
    await host.stop('immediate');
  }
}

if (!qemuImg) {
  if (process.env.TML_TEST_REQUIRE_ALL === '1')
    test('qemu-img is present', (t) => t.fail('qemu-img missing (apt-get install qemu-utils)'));
  else {
    console.error('SKIPPED: qemu host start-error tests need qemu-img (apt-get install qemu-utils)');
    test.skip('qemu host start errors: skipped, need qemu-img (apt-get install qemu-utils)', () => {});
  }
} else {
  test.before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tml-qemu-start-errors-'));
    const disk = join(dir, 'disk.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', disk, '1M']);
    const storeDir = join(dir, 'store');
    const imageId = await createImage(storeDir, {
      label: 'tiny',
      attrs: { [QEMU_ATTR.head]: 'layer-0' },
      blobs: { 'layer-0': { path: disk, attrs: { [QEMU_ATTR.virtualSize]: String(1024 * 1024) } } },
    });
    image = { storeDir, imageId, manifest: await readManifest(storeDir, imageId) };
  });

  test.after.always(async () => {
    if (dir !== '') await rm(dir, { recursive: true, force: true });
  });

  test('a missing QEMU binary is a start error naming the package', async (t) => {
    const { message, workdir } = await startError({ qemuBinary: 'qemu-system-nonexistent' });
    t.is(message, 'qemu-system-nonexistent not found (Debian/Ubuntu: apt-get install qemu-system-x86)');
    t.false(existsSync(workdir), 'the job directory is removed');
  });

  test('an unknown variable in qemu_args is a start error naming the entry', async (t) => {
    const { message } = await startError({ qemuArgs: ['-name', 'tml-{job_id}', '-m', '{ram}'] });
    t.regex(message, /^cannot build the QEMU command line: qemu_args\[3\]: unknown variable \{ram\} \(known: /);
  });

  test('a failing start script is a start error quoting its last line', async (t) => {
    const script = join(dir, 'start.sh');
    await writeFile(script, '#!/bin/sh\necho "looking for the board" >&2\necho "no USB device" >&2\nexit 3\n');
    await chmod(script, 0o755);
    const { message } = await startError({ startScript: script });
    t.is(message, `start script ${script} exited with code 3: no USB device`);
  });

  test('an image larger than working_disk_max_bytes is refused', async (t) => {
    const { message } = await startError({ workingDiskMaxBytes: 1000 });
    t.regex(
      message,
      /failed the layer chain check: the image's disk \(1048576 bytes\) is larger than working_disk_max_bytes \(1000 bytes\)$/,
    );
  });

  test('start script variables reach the command line, and its environment holds the job', async (t) => {
    const script = join(dir, 'vars.sh');
    const seen = join(dir, 'seen');
    await writeFile(
      script,
      `#!/bin/sh\necho "$TML_JOB_ID $TML_MAIN_DISK_IMAGE" > ${seen}\necho tml-set-variable:ram=64\n`,
    );
    await chmod(script, 0o755);
    // The variable fills the template; the missing binary then stops the start (no VM is booted).
    const { message } = await startError({
      startScript: script,
      qemuArgs: ['-m', '{ram}'],
      qemuBinary: 'qemu-system-nonexistent',
    });
    t.regex(message, /not found/);
    t.regex(await readFile(seen, 'utf8'), /^00000000-0000-4000-8000-00000000e001 \/.*\/disk\.qcow2\n$/);
  });
}
