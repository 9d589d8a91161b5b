// The qemu backend's clean-up of what a crashed supervisor left.
import test from 'ava';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { removeLeftoverJobDirs } from '../../supervisor/hosts/qemu/backend.js';

test('job directories of dead or unknown owners are removed at start; a live owner keeps its own', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tml-qemu-leftovers-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  for (const [name, owner] of [
    ['dead', '2147483646'],
    ['unknown', null],
    ['live', String(process.ppid)],
  ] as const) {
    await mkdir(join(dir, name));
    await writeFile(join(dir, name, 'disk.qcow2'), 'x');
    if (owner !== null) await writeFile(join(dir, name, 'supervisor.pid'), owner);
  }
  t.deepEqual((await removeLeftoverJobDirs(dir)).sort(), ['dead', 'unknown']);
  t.deepEqual(await readdir(dir), ['live']);
});
