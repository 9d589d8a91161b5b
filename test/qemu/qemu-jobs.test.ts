// Jobs on real VMs through the real CLIs: switchboard, `tml-supervisor --host qemu` (UEFI boot from
// the disk, TCG here, KVM where the probe boots a guest) and the puppet inside the test image.
// One image serves every test; its workload does what the job's `mode` parameter says.

import test from 'ava';
import { execFile } from 'node:child_process';
import { copyFile, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createImage, QEMU_ATTR } from '../../imagetool/index.js';
import type { JobEventRecord, JobStatus } from '../../protocol/switchboard-api.js';
import type { Service } from '../../scripts/child-processes.js';
import { ANY_EXIT_CODE, LocalCluster } from '../../scripts/local-cluster.js';
import { makeLocalLayer, storeTestVmImage } from '../../scripts/test-vm-image.js';
import { jobLeftovers, sharedBase, sshKeyPair, vmLock, vmTestsCanRun } from './vm.js';

const run = promisify(execFile);

const WORKLOAD = `#!/bin/sh
echo "workload: job $(cat /run/tml/job-id) greeting $(tml-puppet parameter get greeting)"
case "$(tml-puppet parameter get mode)" in
  flow)
    tml-puppet job substate "waiting for ssh"
    while [ ! -e /tmp/ssh-done ]; do sleep 0.2; done
    exec tml-puppet job run --terminate --substate finishing -- \\
      sh -c 'test "$(tml-puppet parameter get secret)" = s3cret-value && echo "workload: secret ok"'
    ;;
  sleep)
    tml-puppet job substate sleeping
    exec sleep 100000
    ;;
  poweroff)
    echo "workload: powering off"
    poweroff
    ;;
  reboot)
    if [ -e /var/lib/tml-test/rebooted ]; then
      tml-puppet job substate "back after the reboot"
      exec tml-puppet job finish --status success --terminate
    fi
    mkdir -p /var/lib/tml-test && touch /var/lib/tml-test/rebooted && sync
    tml-puppet job substate rebooting
    reboot
    ;;
  *)
    exec tml-puppet job finish --status success --output quick --terminate
    ;;
esac
`;

let cluster: LocalCluster;
let supervisor: Service;
let imageId = '';
let stateDir = '';
let keyDir = '';
let release: (() => void) | null = null;
let ssh: { key: string; publicKey: string };

const outcome = (s: JobStatus) => ({ state: s.state.type, exit_status: s.state.result?.exit_status });

async function status(jobId: string): Promise<JobStatus> {
  return JSON.parse((await cluster.tml(['job', 'status', jobId, '--json'])).stdout) as JobStatus;
}

async function events(jobId: string): Promise<JobEventRecord[]> {
  return JSON.parse((await cluster.tml(['job', 'events', jobId, '--json'])).stdout) as JobEventRecord[];
}

async function enqueue(image: string, mode: string, extra: string[] = []): Promise<string> {
  const parameters = JSON.stringify({
    mode: { value: mode, secret: false },
    greeting: { value: 'hello', secret: false },
    secret: { value: 's3cret-value', secret: true },
  });
  const { stdout } = await cluster.tml([
    'job',
    'enqueue',
    image,
    '--tag-config',
    'board:vm',
    '--parameters',
    parameters,
    ...extra,
  ]);
  return (JSON.parse(stdout) as { job_id: string }).job_id;
}

async function untilSubstate(jobId: string, substate: string, timeoutMs = 180_000): Promise<JobStatus> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await status(jobId);
    if (s.status_message === substate) return s;
    if (s.state.type === 'terminated') throw new Error(`job ended before ${substate}: ${JSON.stringify(s)}`);
    if (!supervisor.running) throw new Error(`the supervisor exited: ${supervisor.stderr.slice(-2000)}`);
    if (Date.now() > deadline) throw new Error(`no substate ${substate} in time: ${JSON.stringify(s)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function waitEnd(jobId: string): Promise<number | null> {
  return (await cluster.tml(['job', 'wait', jobId, '--timeout', '240s'], ANY_EXIT_CODE)).code;
}

/** The supervisor's states and stages in order (sub-state reports within a state collapsed). */
function supervisorStates(list: JobEventRecord[]): string[] {
  const out: string[] = [];
  for (const e of list) {
    if (e.by !== 'supervisor' || e.kind === 'exit_status') continue;
    const name = e.stage !== null ? `${e.state}/${e.stage}` : e.state;
    if (out[out.length - 1] !== name) out.push(name);
  }
  return out;
}

async function jobDirs(): Promise<string[]> {
  return readdir(join(stateDir, 'jobs')).catch(() => []);
}

if (vmTestsCanRun(test, 'qemu VM job tests')) {
  test.before(async (t) => {
    t.timeout(20 * 60_000);
    release = await vmLock();
    const base = await sharedBase();
    cluster = await LocalCluster.create({ prefix: 'tml-qemu-e2e-' });
    stateDir = join(cluster.dir, 'state');
    keyDir = await mkdtemp(join(tmpdir(), 'tml-qemu-ssh-'));
    ssh = sshKeyPair(keyDir);
    imageId = await storeTestVmImage(cluster.store, base, WORKLOAD);
    await cluster.prepareDatabase('ci', 'vm-1', 'board:vm');
    await cluster.startSwitchboard();
    supervisor = cluster.startSupervisor({ host: 'qemu', hostArgs: ['--qemu-state-dir', stateDir] });
  });

  test.after.always(async () => {
    await cluster?.close();
    if (keyDir !== '') await rm(keyDir, { recursive: true, force: true });
    release?.();
  });

  test.serial(
    'a job runs in a UEFI-booted VM: parameters, job id, SSH as the user tml, sub-states, success and console',
    async (t) => {
      t.timeout(300_000);
      const jobId = await enqueue(imageId, 'flow', ['--ssh-key', ssh.publicKey]);
      await untilSubstate(jobId, 'waiting for ssh');
      const ready = (await events(jobId)).find((e) => e.by === 'supervisor' && e.state === 'ready');
      const port = /ssh endpoints: 127\.0\.0\.1:(\d+)/.exec(ready?.status_message ?? '')?.[1];
      t.truthy(port, `the ready event names the SSH endpoint: ${ready?.status_message}`);
      const login = await run('ssh', [
        ...['-i', ssh.key, '-p', port!, '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no'],
        ...['-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=error', '-o', 'ConnectTimeout=30'],
        'tml@127.0.0.1',
        'id -un; cat /run/tml/job-id; touch /tmp/ssh-done',
      ]);
      t.deepEqual(login.stdout.trim().split('\n'), ['tml', jobId]);

      t.is(await waitEnd(jobId), 0);
      t.like(outcome(await status(jobId)), { state: 'terminated', exit_status: 'workload_finished_success' });
      const states = supervisorStates(await events(jobId));
      t.deepEqual(states.slice(0, 6), [
        'initializing/starting',
        'initializing/fetching_image',
        'initializing/allocating',
        'initializing/provisioning',
        'initializing/booting',
        'ready',
      ]);
      t.is(states[states.length - 1], 'terminated');

      const logs = (await cluster.tml(['job', 'logs', jobId])).stdout;
      t.regex(logs, /tml-init: system up/, 'the guest boot is in the console');
      t.true(logs.includes(`workload: job ${jobId} greeting hello`), 'the workload read its job id and a parameter');
      t.regex(logs, /workload: secret ok/, 'the secret parameter reached the workload');
      t.false(logs.includes('s3cret-value'), 'the secret itself is not in the console');
      t.deepEqual(await jobDirs(), [], 'the overlay and job directory are gone');
    },
  );

  test.serial('canceling a running VM job powers it off and removes its overlay', async (t) => {
    t.timeout(300_000);
    const jobId = await enqueue(imageId, 'sleep');
    await untilSubstate(jobId, 'sleeping');
    t.deepEqual(jobLeftovers(stateDir, jobId).length > 0, true, 'the VM runs');
    await cluster.tml(['job', 'cancel', jobId]);
    t.not(await waitEnd(jobId), 0);
    t.like(outcome(await status(jobId)), { state: 'terminated', exit_status: 'job_canceled' });
    t.deepEqual(jobLeftovers(stateDir, jobId), []);
  });

  test.serial('a guest that powers off by itself ends its job', async (t) => {
    t.timeout(300_000);
    const jobId = await enqueue(imageId, 'poweroff');
    t.not(await waitEnd(jobId), 0);
    const s = await status(jobId);
    t.like(outcome(s), { state: 'terminated', exit_status: 'workload_finished_unknown' });
    t.regex(s.exit_message ?? '', /the guest powered off/);
    t.deepEqual(jobLeftovers(stateDir, jobId), []);
  });

  test.serial('a guest reboot goes back to initializing and to ready again', async (t) => {
    t.timeout(400_000);
    const jobId = await enqueue(imageId, 'reboot');
    t.is(await waitEnd(jobId), 0);
    const list = await events(jobId);
    const states = supervisorStates(list);
    const firstReady = states.indexOf('ready');
    const rebooting = list.find((e) => e.by === 'supervisor' && e.status_message === 'the guest is rebooting');
    t.like(rebooting, { state: 'initializing', stage: 'booting' });
    t.true(states.lastIndexOf('ready') > states.indexOf('initializing/booting', firstReady + 1), 'ready again');
    t.true(list.some((e) => e.status_message === 'back after the reboot'));
    t.like(outcome(await status(jobId)), { exit_status: 'workload_finished_success' });
  });

  test.serial(
    'a corrupt layer or a broken backing chain ends SupervisorHostStartError before QEMU starts',
    async (t) => {
      t.timeout(120_000);
      const base = await sharedBase();
      // Broken chain: layer-1's qcow2 file is backed by the build cache's disk, not the store's layer-0.
      const layer = join(cluster.dir, 'unrebased.qcow2');
      await makeLocalLayer(base, WORKLOAD, layer);
      const broken = await createImage(cluster.store, {
        label: 'broken chain',
        attrs: { [QEMU_ATTR.head]: 'layer-1' },
        blobs: {
          'layer-0': { path: base.disk, attrs: { [QEMU_ATTR.virtualSize]: String(base.virtualSize) } },
          'layer-1': {
            path: layer,
            attrs: { [QEMU_ATTR.virtualSize]: String(base.virtualSize), [QEMU_ATTR.lower]: 'layer-0' },
          },
        },
      });
      // Corrupt layer: a blob whose bytes are no qcow2 image (its digest is right: only the chain check sees it).
      const junk = join(cluster.dir, 'junk');
      await copyFile(join(cluster.dir, 'switchboard.db'), junk);
      const corrupt = await createImage(cluster.store, {
        label: 'corrupt layer',
        attrs: { [QEMU_ATTR.head]: 'layer-0' },
        blobs: { 'layer-0': { path: junk, attrs: { [QEMU_ATTR.virtualSize]: '4096' } } },
      });
      for (const [image, reason] of [
        [broken, /layer chain check: layer layer-1: its backing file is .* not the store path of layer-0/],
        [corrupt, /layer chain check: layer layer-0: not a usable qcow2 file/],
      ] as const) {
        const jobId = await enqueue(image, 'quick');
        t.not(await waitEnd(jobId), 0);
        const s = await status(jobId);
        t.like(outcome(s), { state: 'terminated', exit_status: 'supervisor_host_start_failure' });
        t.regex(s.exit_message ?? '', reason);
        t.false(supervisorStates(await events(jobId)).includes('initializing/booting'), 'QEMU never started');
        t.deepEqual(jobLeftovers(stateDir, jobId), []);
      }
    },
  );

  test.serial('two jobs in a row leave no overlay or job directory behind', async (t) => {
    t.timeout(400_000);
    for (let i = 0; i < 2; i++) {
      const jobId = await enqueue(imageId, 'quick');
      t.is(await waitEnd(jobId), 0);
      t.like(outcome(await status(jobId)), { exit_status: 'workload_finished_success' });
      t.deepEqual(await jobDirs(), [], `nothing left after job ${i + 1}`);
    }
  });

  test.serial(
    'a supervisor killed mid-job takes its VM with it, and the next one removes the leftover overlay',
    async (t) => {
      t.timeout(300_000);
      const jobId = await enqueue(imageId, 'sleep');
      await untilSubstate(jobId, 'sleeping');
      await supervisor.kill();
      const deadline = Date.now() + 10_000;
      while (jobLeftovers(stateDir, jobId).some((l) => l.startsWith('process')) && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 100));
      t.deepEqual(
        jobLeftovers(stateDir, jobId).filter((l) => l.startsWith('process')),
        [],
        'QEMU died with its supervisor',
      );
      t.deepEqual(await jobDirs(), [jobId], 'the crash left the job directory behind');
      supervisor = cluster.startSupervisor({ host: 'qemu', hostArgs: ['--qemu-state-dir', stateDir] });
      t.not(await waitEnd(jobId), 0);
      t.like(outcome(await status(jobId)), { state: 'terminated', exit_status: 'supervisor_dropped_job' });
      t.deepEqual(await jobDirs(), [], 'the new supervisor removed it');
    },
  );
}
