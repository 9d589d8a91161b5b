// Jobs that do not end well, through the real CLIs: a canceled job's host is killed, and an image the
// supervisor does not have ends SupervisorHostStartError.

import test from 'ava';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { JobEventRecord, JobStatus } from '../../protocol/switchboard-api.js';
import type { Service } from '../../scripts/child-processes.js';
import { ANY_EXIT_CODE, LocalCluster } from '../../scripts/local-cluster.js';
import { alive } from '../supervisor/local-fixtures.js';

// Sleeps forever with a background child, unless the job's "gate" file exists: then it finishes.
const BOOT_SCRIPT = `#!/bin/sh
gate=$(tml-puppet parameter get gate 2>/dev/null)
if [ -n "$gate" ]; then
  tml-puppet job substate waiting
  while [ ! -e "$gate" ]; do sleep 0.1; done
  echo "gate open"
  exec tml-puppet job finish --status success --terminate
fi
sleep 300 &
echo "$$ $!" > "$(tml-puppet parameter get pidfile)"
tml-puppet job substate sleeping
wait
`;

let cluster: LocalCluster;
let supervisor: Service;
let sleeperImage: string;

test.before(async (t) => {
  // Own timeouts, shorter than ava's: a failing test still reaches after.always, which stops the services.
  t.timeout(60_000);
  cluster = await LocalCluster.create({ prefix: 'tml-e2e-' });
  await writeFile(join(cluster.dir, 'boot.sh'), BOOT_SCRIPT);
  await writeFile(
    join(cluster.dir, 'image.toml'),
    'label = "sleeper"\n[attrs]\n"org.tockos.treadmill.image.local_v0.entrypoint" = "boot"\n[blobs.boot]\npath = "boot.sh"\n',
  );
  sleeperImage = await cluster.buildImage(join(cluster.dir, 'image.toml'));
  await cluster.prepareDatabase('ci', 'local-1', 'board:local');
  await cluster.startSwitchboard();
  supervisor = cluster.startSupervisor();
});

test.after.always(async () => {
  await cluster?.close();
});

async function status(jobId: string): Promise<JobStatus> {
  return JSON.parse((await cluster.tml(['job', 'status', jobId, '--json'])).stdout) as JobStatus;
}

/** State and exit status of a terminated job, as `tml job status --json` shows them. */
const outcome = (s: JobStatus) => ({ state: s.state.type, exit_status: s.state.result?.exit_status });

async function enqueue(parameters: Record<string, string>): Promise<string> {
  const params = JSON.stringify(
    Object.fromEntries(Object.entries(parameters).map(([k, v]) => [k, { value: v, secret: false }])),
  );
  const { stdout } = await cluster.tml([
    'job',
    'enqueue',
    sleeperImage,
    '--tag-config',
    'board:local',
    '--parameters',
    params,
  ]);
  return (JSON.parse(stdout) as { job_id: string }).job_id;
}

async function untilSubstate(jobId: string, substate: string): Promise<void> {
  while ((await status(jobId)).status_message !== substate) {
    if (!supervisor.running) throw new Error(`the supervisor exited: ${supervisor.stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test.serial('canceling a running job kills its boot script and everything it started', async (t) => {
  t.timeout(60_000);
  const pidfile = join(cluster.dir, 'pids');
  const jobId = await enqueue({ pidfile });
  await untilSubstate(jobId, 'sleeping');
  const pids = (await readFile(pidfile, 'utf8')).trim().split(' ').map(Number);
  t.deepEqual(pids.map(alive), [true, true]);

  await cluster.tml(['job', 'cancel', jobId]);
  const wait = await cluster.tml(['job', 'wait', jobId, '--timeout', '30s'], ANY_EXIT_CODE);
  t.not(wait.code, 0);
  t.deepEqual(outcome(await status(jobId)), { state: 'terminated', exit_status: 'job_canceled' });
  t.deepEqual(pids.map(alive), [false, false]);
  const events = JSON.parse((await cluster.tml(['job', 'events', jobId, '--json'])).stdout) as JobEventRecord[];
  const fromSupervisor = events
    .filter((e) => e.by === 'supervisor' && e.kind === 'state')
    .map((e) => `${e.state}: ${e.status_message}`);
  t.deepEqual(fromSupervisor.slice(-2), ['terminating: stop requested by the switchboard', 'terminated: null']);
});

test.serial('an image missing from the supervisor store ends SupervisorHostStartError with the reason', async (t) => {
  t.timeout(60_000);
  const missing = 'f'.repeat(64);
  const { stdout } = await cluster.tml(['job', 'enqueue', missing, '--tag-config', 'board:local']);
  const jobId = (JSON.parse(stdout) as { job_id: string }).job_id;
  const wait = await cluster.tml(['job', 'wait', jobId, '--timeout', '30s'], ANY_EXIT_CODE);
  t.not(wait.code, 0);
  const s = await status(jobId);
  t.deepEqual(outcome(s), { state: 'terminated', exit_status: 'supervisor_host_start_failure' });
  t.regex(s.state.result?.host_output ?? '', new RegExp(`^ImageNotFound: image ${missing} is not usable from store `));
});

test.serial('a job that finishes while the switchboard is down is reported once it is back', async (t) => {
  t.timeout(60_000);
  const gate = join(cluster.dir, 'gate');
  const jobId = await enqueue({ gate });
  await untilSubstate(jobId, 'waiting');
  await cluster.crashSwitchboard();
  await writeFile(gate, '');
  await cluster.startSwitchboard();
  const wait = await cluster.tml(['job', 'wait', jobId, '--timeout', '30s'], ANY_EXIT_CODE);
  t.is(wait.code, 0, wait.stdout + wait.stderr);
  t.deepEqual(outcome(await status(jobId)), { state: 'terminated', exit_status: 'workload_finished_success' });
  t.regex((await cluster.tml(['job', 'logs', jobId])).stdout, /gate open\n/);
  t.true(supervisor.running);
});
