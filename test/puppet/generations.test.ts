// The puppet against each generation of upstream supervisor in the field (late 2024, 2025, 2026),
// played by the hand-written stand-ins of upstream-supervisors.ts: start-up never hangs, the
// job's files are written from what each one knows, and workload reports, which none of them
// take, are refused plainly instead of vanishing.
import test from 'ava';
import { chmodSync, existsSync, promises as fs, writeFileSync } from 'node:fs';
import path from 'node:path';
import { AUTHORIZED_KEYS_HEADER } from '../../puppet/files.js';
import { HOST_ID, JOB_ID, spawnDaemon, tempDir, waitFor, type Daemon } from './harness.js';
import {
  GENERATIONS,
  upstreamSupervisor,
  type Generation,
  type UpstreamJob,
  type UpstreamOptions,
  type UpstreamSupervisor,
} from './upstream-supervisors.js';

const JOB: UpstreamJob = {
  jobId: JOB_ID,
  hostId: HOST_ID,
  sshKeys: ['ssh-ed25519 AAAAkey1 alice@laptop'],
  parameters: {
    board: { value: 'nrf52840dk', secret: false },
    'gh-actions-runner-encoded-jit-config': { value: 'JIT-SECRET', secret: true },
  },
};

const NO_REPORTS =
  "tml-puppet: the supervisor cannot take workload reports (it does not know this project's declareworkloadexitstatus and reportsubstate events)";

interface Setup {
  sup: UpstreamSupervisor;
  d: Daemon;
  keysFile: string;
  netEnv: string;
  /** milliseconds from spawning the daemon to `ready` at the supervisor */
  readyMs: number;
}

/** Resolves once ready reached the supervisor, or the daemon exited; for tests that expect either. */
async function readyOrExit(sup: UpstreamSupervisor, d: Daemon): Promise<'ready' | number | null> {
  return Promise.race([
    waitFor('ready at the supervisor', () => sup.eventsOf('ready').length > 0, 15_000).then(() => 'ready' as const),
    d.closed,
  ]);
}

async function against(
  t: import('ava').ExecutionContext,
  generation: Generation,
  opts: UpstreamOptions & { daemonArgs?: string[] } = {},
): Promise<Setup> {
  const sup = await upstreamSupervisor(t, generation, JOB, opts);
  const dir = tempDir(t);
  const keysFile = path.join(dir, 'home', 'tml', '.ssh', 'authorized_keys');
  await fs.mkdir(path.dirname(keysFile), { recursive: true });
  writeFileSync(keysFile, 'ssh-ed25519 AAAAimage-key built-in@image\n');
  const netEnv = path.join(dir, 'net-env');
  const netScript = path.join(dir, 'net.sh');
  writeFileSync(netScript, `#!/bin/sh\nenv | grep -E '^(HOSTNAME|INTERFACE|IPV4_|IPV6_)' | sort > ${netEnv}\n`);
  chmodSync(netScript, 0o755);
  const t0 = performance.now();
  const d = spawnDaemon(t, {
    port: sup.port,
    // as the published VM images start it, plus a network script
    daemonArgs: [
      '--authorized-keys-file',
      keysFile,
      '--exit-on-authorized-keys-update-error',
      '--network-config-script',
      netScript,
      ...(opts.daemonArgs ?? []),
    ],
  });
  await Promise.race([
    waitFor('ready at the supervisor', () => sup.eventsOf('ready').length > 0, 15_000),
    d.closed.then((code) => {
      throw new Error(`daemon exited with ${code} before ready`);
    }),
  ]);
  return { sup, d, keysFile, netEnv, readyMs: performance.now() - t0 };
}

/** Requests a generation predates, besides our capability request. */
const UNKNOWN_TO: Record<Generation, string[]> = { 'late-2024': ['jobinfo'], '2025': [], '2026': ['sshkeys'] };

/**
 * The supervisor refused only requests (the capability request, once per connection, and what
 * its generation predates, once per start-up), never an event: the puppet sent it none it could
 * not parse, and so no refusal was mistaken for another's.
 */
function refusedOnlyWhatItPredates(t: import('ava').ExecutionContext, sup: UpstreamSupervisor): void {
  const refused = sup.refused.map((m) => (m['request'] as { type: string } | undefined)?.type ?? 'an event');
  t.deepEqual(refused.sort(), ['extensions', ...UNKNOWN_TO[sup.generation]].sort());
  t.deepEqual(sup.eventsOf('declareworkloadexitstatus'), []);
  t.deepEqual(sup.eventsOf('reportsubstate'), []);
}

for (const generation of GENERATIONS) {
  test(`${generation} supervisor: ready without waiting out a request time-out, with the job's files from what it knows`, async (t) => {
    const { sup, d, keysFile, netEnv, readyMs } = await against(t, generation);
    // A refusal must end its request at once; waiting it out would cost the 10 s --request-timeout.
    // (How fast start-up is, is measured by npm run bench, not here.)
    t.true(readyMs < 9000, `ready after ${Math.round(readyMs)} ms`);
    // refusals are taken at once: no request waited for its time-out
    t.notRegex(d.daemonLog(), /did not answer/);

    t.is(await fs.readFile(path.join(d.jobInfoDir, 'job-id'), 'utf8'), JOB_ID);
    if (generation === 'late-2024') {
      t.is(sup.requestsOf('jobid'), 1);
      t.false(existsSync(path.join(d.jobInfoDir, 'host-id')), 'a late-2024 supervisor gives no host id');
    } else {
      t.is(await fs.readFile(path.join(d.jobInfoDir, 'host-id'), 'utf8'), HOST_ID);
    }

    if (generation === '2026') {
      // no SSH keys from this generation: the image's file stays, and the daemon goes on
      t.is(await fs.readFile(keysFile, 'utf8'), 'ssh-ed25519 AAAAimage-key built-in@image\n');
      t.regex(d.daemonLog(), /supervisor gives no SSH keys .* left as it is/);
    } else {
      t.is(await fs.readFile(keysFile, 'utf8'), `${AUTHORIZED_KEYS_HEADER}ssh-ed25519 AAAAkey1 alice@laptop\n`);
    }

    t.is(await fs.readFile(netEnv, 'utf8'), `HOSTNAME=job-${JOB_ID.slice(0, 10)}\n`);
    t.is(await fs.readFile(path.join(d.paramsDir, 'board'), 'utf8'), 'nrf52840dk');
    t.is(await fs.readFile(path.join(d.paramsDir, 'gh-actions-runner-encoded-jit-config'), 'utf8'), 'JIT-SECRET');
    t.is(d.daemon.exitCode, null);
    refusedOnlyWhatItPredates(t, sup);
  });

  test(`${generation} supervisor: job finish and job substate exit 1 with one line saying it cannot take workload reports`, async (t) => {
    const { sup, d } = await against(t, generation);
    const finish = await d.client(['job', 'finish', '--status', 'success', '--output', 'all passed']);
    t.deepEqual([finish.code, finish.stderr], [1, `${NO_REPORTS}\n`]);
    const sub = await d.client(['job', 'substate', 'flashing']);
    t.deepEqual([sub.code, sub.stderr], [1, `${NO_REPORTS}\n`]);
    refusedOnlyWhatItPredates(t, sup);
  });

  test(`${generation} supervisor: job run still runs the command, exits with its code and warns`, async (t) => {
    const { sup, d } = await against(t, generation);
    const r = await d.client([
      'job',
      'run',
      '--terminate',
      '--substate',
      'testing',
      '--',
      'sh',
      '-c',
      'echo hi; exit 3',
    ]);
    t.is(r.code, 3);
    t.is(r.stdout, 'hi\n');
    t.is(r.stderr, `tml-puppet: warning: ${NO_REPORTS.slice('tml-puppet: '.length)}; the job was asked to terminate\n`);
    // terminatejob is upstream's own event, so it still goes
    await waitFor('terminatejob', () => sup.eventsOf('terminatejob').length === 1);
    t.deepEqual(sup.eventsOf('terminatejob'), [{ type: 'terminatejob', supervisor_event_id: null }]);
    refusedOnlyWhatItPredates(t, sup);
  });

  test(`${generation} supervisor: job terminate, in upstream's spelling with --dbus-bus, sends terminatejob`, async (t) => {
    const { sup, d } = await against(t, generation);
    const r = await d.client(['job', '--dbus-bus', 'system', 'terminate']);
    t.deepEqual([r.code, r.stderr], [0, '']);
    // it returned once the event was written to the control socket
    await waitFor('terminatejob', () => sup.eventsOf('terminatejob').length === 1);
    t.pass();
  });
}

test('a refusal is recognised whatever its text says', async (t) => {
  const { sup, d } = await against(t, 'late-2024', {
    refusal: (what) => `unknown variant \`${what}\`, expected one of \`ping\`, \`jobid\`, \`sshkeys\``,
  });
  t.is(await fs.readFile(path.join(d.jobInfoDir, 'job-id'), 'utf8'), JOB_ID);
  t.is((await d.client(['job', 'finish', '--status', 'error'])).code, 1);
  refusedOnlyWhatItPredates(t, sup);
});

test('a supervisor that never answers a request does not hold start-up: past --request-timeout it counts as refused', async (t) => {
  const { sup, d, keysFile, readyMs } = await against(t, '2025', {
    silentOn: ['extensions', 'sshkeys'],
    daemonArgs: ['--request-timeout', '0.5'],
  });
  t.true(readyMs < 5000, `ready after ${Math.round(readyMs)} ms`);
  t.regex(d.daemonLog(), /did not answer request 0 \(extensions\) within 0.5 s/);
  t.regex(d.daemonLog(), /did not answer request \d+ \(sshkeys\) within 0.5 s/);
  // unanswered keys are no keys: the file stays
  t.is(await fs.readFile(keysFile, 'utf8'), 'ssh-ed25519 AAAAimage-key built-in@image\n');
  t.is(sup.eventsOf('ready').length, 1);
  // unanswered capability request: no workload reports either
  t.is((await d.client(['job', 'finish', '--status', 'success'])).code, 1);
  t.deepEqual(sup.eventsOf('declareworkloadexitstatus'), []);
});

test('a jobnotfound network config stops the daemon under the default rule, as upstream', async (t) => {
  const sup = await upstreamSupervisor(t, '2025', JOB, { jobNotFound: ['networkconfig'] });
  const dir = tempDir(t);
  const script = path.join(dir, 'net.sh');
  writeFileSync(script, '#!/bin/sh\ntouch "$0.ran"\n');
  chmodSync(script, 0o755);
  const d = spawnDaemon(t, { port: sup.port, daemonArgs: ['--network-config-script', script] });
  t.is(await readyOrExit(sup, d), 1);
  t.regex(d.daemonLog(), /fatal: no network configuration from the supervisor \(answered jobnotfound\); .* not run/);
  t.false(existsSync(`${script}.ran`));
});

test('a refused or jobnotfound network config is logged and start-up goes on with --no-exit-on-network-config-error', async (t) => {
  for (const opts of [{ jobNotFound: ['networkconfig'] }, { refuses: ['networkconfig'] }]) {
    const sup = await upstreamSupervisor(t, '2025', JOB, opts);
    const dir = tempDir(t);
    const script = path.join(dir, 'net.sh');
    writeFileSync(script, '#!/bin/sh\ntouch "$0.ran"\n');
    chmodSync(script, 0o755);
    const d = spawnDaemon(t, {
      port: sup.port,
      daemonArgs: ['--network-config-script', script, '--no-exit-on-network-config-error'],
    });
    t.is(await readyOrExit(sup, d), 'ready', JSON.stringify(opts));
    t.regex(d.daemonLog(), /error +no network configuration from the supervisor \((answered jobnotfound|refused .*)\)/);
    t.false(existsSync(`${script}.ran`));
  }
});
