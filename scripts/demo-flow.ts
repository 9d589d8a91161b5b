// The whole Treadmill flow on one machine, through the real CLIs: build an image, run a switchboard
// and a local supervisor, enqueue a job with a normal and a secret parameter, and collect what a user
// sees. `npm run demo` prints it; the end-to-end test checks it.

import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CommandError } from './child-processes.js';
import { ANY_EXIT_CODE, LocalCluster } from './local-cluster.js';
import { storeTestVmImage, testVmBase } from './test-vm-image.js';

const EXAMPLE_SPEC = fileURLToPath(new URL('../../examples/demo/image.toml', import.meta.url));
const EXAMPLE_BOOT = fileURLToPath(new URL('../../examples/demo/boot.sh', import.meta.url));

export interface DemoOptions {
  /** Human-readable progress; lines starting with '== ' are stage headers. */
  print(line: string): void;
  /** The puppet the supervisor runs (default: its own choice, the bundle dist/tml-puppet.mjs). */
  puppet?: string;
  /** The supervisor's --log-level (its log includes the puppet's at debug). */
  supervisorLogLevel?: string;
  /** How long to wait for the job to finish. */
  jobTimeoutSeconds?: number;
  /** Aborting stops every process the demo started; runDemo then rejects after cleaning up. */
  signal?: AbortSignal;
  /** `local` (default): the boot script runs as a process; `qemu`: it runs in a VM. */
  host?: 'local' | 'qemu';
}

export interface DemoResult {
  /** The temporary directory the demo worked in (removed before runDemo returns). */
  dir: string;
  imageId: string;
  jobId: string;
  secret: string;
  /** Exit code of `tml job wait`: 0 means WorkloadFinishedSuccess. */
  waitCode: number | null;
  /** Everything the `tml` client printed, by command. */
  api: {
    enqueue: string;
    wait: string;
    logs: string;
    events: string;
    eventsJson: string;
    status: string;
    statusJson: string;
  };
  /** The services' own logs. */
  serviceLogs: { switchboard: string; supervisor: string };
}

function indent(text: string): string {
  return text
    .trimEnd()
    .split('\n')
    .map((l) => `   ${l}`)
    .join('\n');
}

export async function runDemo(opts: DemoOptions): Promise<DemoResult> {
  const { print } = opts;
  const host = opts.host ?? 'local';
  const board = host === 'qemu' ? 'board:qemu' : 'board:local';
  const DEMO_TAGS = `${board};site:demo`;
  const cluster = await LocalCluster.create({ prefix: 'tml-demo-', signal: opts.signal });
  try {
    let imageId: string;
    if (host === 'qemu') {
      print('== 1/6 Build the demo VM image: scripts/build-test-vm-image (cached), tml-imagetool create + layer');
      const base = await testVmBase();
      print(`   base: Debian ${base.kernelVersion} kernel, busybox init, Node, sshd (${base.dir})`);
      imageId = await storeTestVmImage(cluster.store, base, await readFile(EXAMPLE_BOOT, 'utf8'), 'Demo VM image');
      print(`   layer-1 holds the puppet and examples/demo/boot.sh as the workload; image ${imageId}`);
    } else {
      print('== 1/6 Build the demo image: tml-imagetool build examples/demo/image.toml');
      imageId = await cluster.buildImage(EXAMPLE_SPEC);
      print(`   image ${imageId} in ${cluster.store}`);
    }

    print(`== 2/6 Prepare the switchboard database: an admin user, an API token, a supervisor tagged ${DEMO_TAGS}`);
    const name = host === 'qemu' ? 'vm-1' : 'local-1';
    await cluster.prepareDatabase('demo', name, DEMO_TAGS);
    print(`   user demo (admin), supervisor ${name} = ${cluster.supervisorId}`);

    print('== 3/6 Start the switchboard: tml-switchboard serve --listen 127.0.0.1:0');
    print(`   listening on ${await cluster.startSwitchboard()}`);

    let supervisor;
    if (host === 'qemu') {
      print('== 4/6 Start a supervisor with the qemu host: tml-supervisor --host qemu');
      supervisor = cluster.startSupervisor({
        host: 'qemu',
        logLevel: opts.supervisorLogLevel,
        hostArgs: ['--qemu-state-dir', join(cluster.dir, 'qemu-state')],
      });
      print('   each job boots the image in a VM (UEFI, KVM if a guest boots under it, else TCG); the puppet inside');
      print('   finds the control socket through fw_cfg');
    } else {
      print('== 4/6 Start a supervisor with the local host: tml-supervisor --host local');
      supervisor = cluster.startSupervisor({ puppet: opts.puppet, logLevel: opts.supervisorLogLevel });
      print("   the local host runs the image's boot script as a process on this machine (no isolation)");
    }

    const secret = `s3cr3t-${randomBytes(12).toString('hex')}`;
    const parameters = JSON.stringify({
      greeting: { value: 'hello', secret: false },
      'api-key': { value: secret, secret: true },
    });
    print(
      `== 5/6 Enqueue a job: tml job enqueue IMAGE --tag-config ${board} --parameters {greeting, api-key (secret)}`,
    );
    const enqueue = (await cluster.tml(['job', 'enqueue', imageId, '--tag-config', board, '--parameters', parameters]))
      .stdout;
    const jobId = (JSON.parse(enqueue) as { job_id: string }).job_id;
    print(`   ${enqueue.trim()}`);
    print('   waiting for it: tml job wait');
    const timeout = opts.jobTimeoutSeconds ?? (host === 'qemu' ? 300 : 60);
    const wait = await Promise.race([
      cluster.tml(['job', 'wait', jobId, '--timeout', `${timeout}s`], ANY_EXIT_CODE),
      supervisor.exited.then((code) => {
        throw new CommandError(`tml-supervisor exited (code ${code}) while the job ran: ${supervisor.stderr.trim()}`);
      }),
    ]);

    print('== 6/6 What the user sees');
    const [logs, events, status, eventsJson, statusJson] = (
      await Promise.all([
        cluster.tml(['job', 'logs', jobId]),
        cluster.tml(['job', 'events', jobId]),
        cluster.tml(['job', 'status', jobId]),
        cluster.tml(['job', 'events', jobId, '--json']),
        cluster.tml(['job', 'status', jobId, '--json']),
      ])
    ).map((r) => r.stdout) as [string, string, string, string, string];
    print('-- console of the job (tml job logs):');
    print(indent(logs));
    print('-- events (tml job events):');
    print(indent(events));
    print('-- final status (tml job status):');
    print(indent(status));

    // Stopped before reading their logs, so the logs are complete.
    await cluster.stopServices();
    const serviceLogs = cluster.serviceLogs();
    return {
      dir: cluster.dir,
      imageId,
      jobId,
      secret,
      waitCode: wait.code,
      api: { enqueue, wait: wait.stdout + wait.stderr, logs, events, eventsJson, status, statusJson },
      serviceLogs: {
        switchboard: serviceLogs['tml-switchboard'] ?? '',
        supervisor: serviceLogs['tml-supervisor'] ?? '',
      },
    };
  } finally {
    await cluster.close();
  }
}
