// A supervisor killed with SIGKILL mid-job, through the real CLIs: its host's processes die with it,
// and the next supervisor on the same --work-dir kills whatever is left and removes the job
// directory, secret parameter files included, before it reports idle to the switchboard.

import test from 'ava';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { JobStatus } from '../../protocol/switchboard-api.js';
import type { Service } from '../../scripts/child-processes.js';
import { LocalCluster } from '../../scripts/local-cluster.js';
import { alive } from './local-fixtures.js';

const BOOT_SCRIPT = `#!/bin/sh
sleep 300 &
echo "$$ $!" > "$(tml-puppet parameter get pidfile)"
tml-puppet job substate sleeping
wait
`;

let cluster: LocalCluster;
let image: string;

test.before(async (t) => {
  t.timeout(60_000);
  cluster = await LocalCluster.create({ prefix: 'tml-restart-' });
  await writeFile(join(cluster.dir, 'boot.sh'), BOOT_SCRIPT);
  await writeFile(
    join(cluster.dir, 'image.toml'),
    'label = "sleeper"\n[attrs]\n"org.tockos.treadmill.image.local_v0.entrypoint" = "boot"\n[blobs.boot]\npath = "boot.sh"\n',
  );
  image = await cluster.buildImage(join(cluster.dir, 'image.toml'));
  await cluster.prepareDatabase('ci', 'local-1', 'board:local');
  await cluster.startSwitchboard();
});

test.after.always(async () => {
  await cluster?.close();
});

const workDir = () => join(cluster.dir, 'work');

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Starts a supervisor and a sleeping job on it; returns the boot script's and its child's pids. */
async function sleepingJob(name: string): Promise<{ supervisor: Service; pids: number[]; jobDir: string }> {
  const supervisor = cluster.startSupervisor();
  const pidfile = join(cluster.dir, `${name}.pids`);
  const parameters = JSON.stringify({
    pidfile: { value: pidfile, secret: false },
    'api-key': { value: 's3cret', secret: true },
  });
  const { stdout } = await cluster.tml([
    'job',
    'enqueue',
    image,
    '--tag-config',
    'board:local',
    '--parameters',
    parameters,
  ]);
  const jobId = (JSON.parse(stdout) as { job_id: string }).job_id;
  await until('the job to be sleeping', async () => {
    const status = JSON.parse((await cluster.tml(['job', 'status', jobId, '--json'])).stdout) as JobStatus;
    return status.status_message === 'sleeping';
  });
  const pids = (await readFile(pidfile, 'utf8')).trim().split(' ').map(Number);
  const jobDirs = readdirSync(workDir()).filter((n) => n.startsWith('job-'));
  if (jobDirs.length !== 1) throw new Error(`expected one job directory, found ${jobDirs.join(', ')}`);
  return { supervisor, pids, jobDir: join(workDir(), jobDirs[0]!) };
}

/** Children of pid, read from /proc. */
function childrenOf(pid: number): number[] {
  return readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .filter((e) => {
      try {
        const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid;
      } catch {
        return false;
      }
    })
    .map(Number);
}

test.serial('the processes of a job die with a supervisor killed by SIGKILL', async (t) => {
  t.timeout(60_000);
  const { supervisor, pids, jobDir } = await sleepingJob('first');
  t.deepEqual(pids.map(alive), [true, true]);
  await supervisor.kill();
  await until('the boot script and its child to die', () => !pids.some(alive), 5_000);
  // What stays on disk is the next start's to clear.
  t.true(existsSync(join(jobDir, 'parameters', 'api-key')));
  const next = cluster.startSupervisor();
  await until('the next supervisor to connect', () => /connected to the switchboard/.test(next.stderr));
  t.false(existsSync(jobDir));
  await next.stop();
});

test.serial(
  'a restarted supervisor kills what an earlier run left and removes its job directory before idle',
  async (t) => {
    t.timeout(60_000);
    const { supervisor, pids, jobDir } = await sleepingJob('second');
    // The watchdog dies too, as when the supervisor's whole service is killed but not its job's groups.
    const watchdogs = childrenOf(supervisor.pid!).filter((pid) =>
      readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('while read -r g'),
    );
    t.is(watchdogs.length, 1);
    for (const pid of watchdogs) process.kill(pid, 'SIGKILL');
    await supervisor.kill();
    await new Promise((r) => setTimeout(r, 300));
    t.deepEqual(pids.map(alive), [true, true], 'left running with no watchdog');
    t.true(existsSync(join(jobDir, 'parameters', 'api-key')));

    const next = cluster.startSupervisor();
    await until('the next supervisor to connect', () => /connected to the switchboard/.test(next.stderr));
    const log = next.stderr;
    const cleaned = log.search(/removed 1 job directory left by an earlier run in \S+ \(killed 2 process groups\)/);
    t.true(cleaned >= 0, log);
    t.true(cleaned < log.search(/connected to the switchboard/), 'cleaned before the switchboard hears idle');
    t.false(existsSync(jobDir));
    await until('the boot script and its child to die', () => !pids.some(alive), 2_000);
    await next.stop();
  },
);
