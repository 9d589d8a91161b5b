import test from 'ava';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  OWNER_FILE,
  PROCESS_GROUPS_FILE,
  processStartTime,
  recordProcessGroup,
  removeLeftovers,
} from '../../supervisor/leftovers.js';
import { alive } from './local-fixtures.js';

async function workDir(t: import('ava').ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tml-leftovers-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function sleeper(t: import('ava').ExecutionContext): number {
  const child = spawn('sleep', ['30'], { detached: true, stdio: 'ignore' });
  t.teardown(() => {
    if (alive(child.pid!)) process.kill(-child.pid!, 'SIGKILL');
  });
  return child.pid!;
}

async function until(check: () => boolean): Promise<boolean> {
  for (let i = 0; i < 100 && !check(); i++) await new Promise((r) => setTimeout(r, 20));
  return check();
}

test('a job directory whose owner is dead has its recorded process groups killed and is removed', async (t) => {
  const dir = await workDir(t);
  const job = join(dir, 'job-1');
  await mkdir(join(job, 'parameters'), { recursive: true });
  await writeFile(join(job, 'parameters', 'api-key'), 's3cret');
  await writeFile(join(job, OWNER_FILE), '2147483646 12345\n');
  const pid = sleeper(t);
  recordProcessGroup(job, pid);
  t.deepEqual(await removeLeftovers(dir), { removed: ['job-1'], killedGroups: 1 });
  t.false(existsSync(job));
  t.true(await until(() => !alive(pid)));
});

test('a recorded group whose id now belongs to another process (another start time) is not killed', async (t) => {
  const dir = await workDir(t);
  const job = join(dir, 'job-1');
  await mkdir(job);
  const pid = sleeper(t);
  await writeFile(join(job, PROCESS_GROUPS_FILE), `${pid} 1\n`);
  t.deepEqual(await removeLeftovers(dir), { removed: ['job-1'], killedGroups: 0 });
  await new Promise((r) => setTimeout(r, 100));
  t.true(alive(pid));
});

test('a job directory of a live supervisor, and entries that are not job directories, are left alone', async (t) => {
  const dir = await workDir(t);
  await mkdir(join(dir, 'job-live'));
  await writeFile(join(dir, 'job-live', OWNER_FILE), `${process.ppid} ${processStartTime(process.ppid)}\n`);
  await mkdir(join(dir, 'notes'));
  t.deepEqual(await removeLeftovers(dir, (name) => name.startsWith('job-')), { removed: [], killedGroups: 0 });
  t.deepEqual((await readdir(dir)).sort(), ['job-live', 'notes']);
});
