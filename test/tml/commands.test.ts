// The commands end to end, through the CLI a user types, against the fake switchboard: listings
// with headers and filters, following events, supervisors as mq's systems and pools, time-outs,
// --json everywhere, long runs, job ssh.

import test from 'ava';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import type { SupervisorStatusFull } from '../../tml/api-ext.js';
import { FakeSwitchboard, jobStatus, type Features } from './fake-switchboard.js';
import { makeHome, runTml, type Home, type Result } from './spawn.js';

const IMAGE = 'ab'.repeat(32);
const SUP_A = '00000000-0000-4000-8000-00000000000a';
const SUP_B = '00000000-0000-4000-8000-00000000000b';
const J1 = '11111111-0000-4000-8000-000000000001';
const J2 = '11111111-0000-4000-8000-000000000002';
const J3 = '11111111-0000-4000-8000-000000000003';

interface Ctx {
  sb: FakeSwitchboard;
  home: Home;
  tml(args: string[], opts?: Parameters<typeof runTml>[2]): Promise<Result>;
}

async function withFake(fn: (c: Ctx) => Promise<void>, features: Partial<Features> = {}): Promise<void> {
  const sb = await FakeSwitchboard.start(features);
  const home = makeHome();
  const env = { TML_SWITCHBOARD_URL: sb.url, TML_API_TOKEN: sb.newToken() };
  try {
    await fn({ sb, home, tml: (args, opts = {}) => runTml(args, home, { ...opts, env: { ...env, ...opts.env } }) });
  } finally {
    home.cleanup();
    await sb.close();
  }
}

function threeJobs(sb: FakeSwitchboard): void {
  const rpi = { id: SUP_A, name: 'rpi-1' };
  sb.addJob(
    jobStatus(J1, {
      state: 'terminated',
      exit: 'workload_finished_error',
      tags: 'board:x',
      supervisor: rpi,
      queuedAt: '2025-10-29T12:00:00.000Z',
    }),
  );
  sb.addJob(jobStatus(J2, { state: 'ready', tags: 'board:x', supervisor: rpi, queuedAt: '2025-10-30T12:00:00.000Z' }));
  sb.addJob(jobStatus(J3, { state: 'queued', owner: 'bob', tags: 'board:y', queuedAt: '2025-10-31T12:00:00.000Z' }));
}

test('job list prints a header row, then one job a line, newest first', (t) =>
  withFake(async ({ sb, tml }) => {
    threeJobs(sb);
    const r = await tml(['job', 'list']);
    t.is(r.status, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    t.regex(lines[0]!, /^JOB +QUEUED +OWNER +SUPERVISOR +STATE$/);
    t.deepEqual(
      lines.slice(1).map((l) => l.slice(0, 36)),
      [J3, J2, J1],
    );
    t.regex(lines[3]!, /rpi-1 +terminated WorkloadFinishedError$/);
    const bare = await tml(['job', 'list', '--tsv', '--no-header']);
    t.is(bare.stdout.split('\n')[0], `${J3}\t2025-10-31T12:00:00.000Z\tbob\t-\tqueued`);
  }));

test('job list sends its filters to the switchboard and notes where the next page starts', (t) =>
  withFake(async ({ sb, tml }) => {
    threeJobs(sb);
    const r = await tml([
      'job',
      'list',
      '--state',
      'terminated',
      '--exit-status',
      'WorkloadFinishedError',
      '--tag',
      'board:x',
      '--supervisor',
      'rpi-1',
    ]);
    t.is(r.status, 0, r.stderr);
    t.is(
      sb.requests.at(-1)!.url,
      '/api/v1/jobs?limit=200&state=terminated&exit_status=workload_finished_error&tag=board%3Ax&supervisor=rpi-1',
    );
    t.deepEqual(
      r.stdout
        .trimEnd()
        .split('\n')
        .slice(1)
        .map((l) => l.slice(0, 36)),
      [J1],
    );
    const page = await tml(['job', 'list', '--limit', '2']);
    t.is(page.stderr, 'tml: more jobs: add --cursor c2 (or --all)\n');
    const all = await tml(['job', 'list', '--limit', '2', '--all', '--json']);
    t.deepEqual(Object.keys(JSON.parse(all.stdout) as object), [J3, J2, J1]);
    t.deepEqual(
      sb.requests.slice(-2).map((q) => q.url),
      ['/api/v1/jobs?limit=2', '/api/v1/jobs?limit=2&cursor=c2'],
    );
  }));

test('job list filters what a switchboard without filters sends back', (t) =>
  withFake(
    async ({ sb, tml }) => {
      threeJobs(sb);
      const r = await tml(['job', 'list', '--tag', 'board:y', '--since', '2025-10-31T00:00:00Z']);
      t.is(r.status, 0, r.stderr);
      t.deepEqual(
        r.stdout
          .trimEnd()
          .split('\n')
          .slice(1)
          .map((l) => l.slice(0, 36)),
        [J3],
      );
    },
    { pages: false },
  ));

test('job events --follow prints each event as it comes, until the job has terminated', (t) =>
  withFake(async ({ sb, tml }) => {
    sb.addJob(jobStatus(J1, { state: 'ready' }));
    for (const state of ['queued', 'scheduled', 'ready'] as const) sb.event(J1, { state });
    let printed = '';
    const follow = tml(['job', 'events', J1, '--follow'], {
      onSpawn: (child) => child.stdout!.on('data', (d: Buffer) => (printed += d.toString())),
    });
    while (!printed.includes('ready')) await new Promise((r) => setTimeout(r, 50));
    sb.finish(J1, 'workload_finished_success');
    const r = await follow;
    t.is(r.status, 0, r.stderr);
    t.deepEqual(
      r.stdout
        .trimEnd()
        .split('\n')
        .map((l) => l.slice(26).trim()),
      [
        'switchboard queued',
        'switchboard scheduled',
        'switchboard ready',
        'switchboard exit status WorkloadFinishedSuccess',
        'switchboard terminated',
      ],
    );
    // Pages of two: the follower asks for what came after the last one it printed.
    t.true(sb.requests.some((q) => q.url === `/api/v1/jobs/${J1}/events?after=2`));
  }));

test('job events --follow works with a switchboard that does not number events', (t) =>
  withFake(
    async ({ sb, tml }) => {
      sb.addJob(jobStatus(J1, { state: 'ready' }));
      sb.event(J1, { state: 'queued' });
      const follow = tml(['job', 'events', J1, '--follow', '--json']);
      await new Promise((r) => setTimeout(r, 1500));
      sb.finish(J1);
      const r = await follow;
      t.is(r.status, 0, r.stderr);
      const events = r.stdout
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l) as { state: string; seq: number | null });
      t.deepEqual(
        events.map((e) => e.state),
        ['queued', 'ready', 'terminated'],
      );
    },
    { seq: false },
  ));

function supervisors(sb: FakeSwitchboard): void {
  sb.supervisors = {
    [SUP_A]: {
      status: 'busy',
      job_id: J2,
      job_state: { state: 'ready' },
      id: SUP_A,
      name: 'rpi-1',
      tags: ['board:x', 'site:lab'],
      job_owner: 'alice',
      job_since: '2025-10-31T11:00:00.000Z',
    },
    [SUP_B]: { status: 'idle', id: SUP_B, name: 'rpi-2', tags: ['board:x'] },
  } satisfies Record<string, SupervisorStatusFull>;
}

test('supervisor status names who holds it and since when, by name or id', (t) =>
  withFake(async ({ sb, tml }) => {
    supervisors(sb);
    const r = await tml(['supervisor', 'status', 'rpi-1']);
    t.is(r.status, 0, r.stderr);
    t.regex(r.stdout, new RegExp(`^job {10}${J2} \\(ready\\)$`, 'm'));
    t.regex(r.stdout, /^held by {6}alice$/m);
    t.regex(r.stdout, /^since {8}2025-10-31T11:00:00\.000Z$/m);
    t.is((await tml(['supervisor', 'status', SUP_B])).stdout.split('\n')[0], `supervisor   ${SUP_B}`);
    const typo = await tml(['supervisor', 'status', 'rpi-9']);
    t.is(typo.status, 2);
    t.is(typo.stderr, 'tml: no supervisor named "rpi-9" (tml supervisor list shows them)\n');
  }));

test('supervisor pools counts idle, busy and disconnected supervisors per tag', (t) =>
  withFake(async ({ sb, tml }) => {
    supervisors(sb);
    const r = await tml(['supervisor', 'pools', '--tsv']);
    t.is(
      r.stdout,
      'POOL\tSUPERVISORS\tIDLE\tBUSY\tDISCONNECTED\tMEMBERS\nboard:x\t2\t1\t1\t0\trpi-1,rpi-2\nsite:lab\t1\t0\t1\t0\trpi-1\n',
    );
    const list = await tml(['supervisor', 'list', '--tsv']);
    t.regex(
      list.stdout,
      new RegExp(`^${SUP_A}\\trpi-1\\tbusy\\t${J2}\\talice\\t2025-10-31T11:00:00.000Z\\tboard:x;site:lab$`, 'm'),
    );
  }));

test('supervisor wait returns once the supervisor is idle; --timeout exits 11', (t) =>
  withFake(async ({ sb, tml }) => {
    supervisors(sb);
    const timedOut = await tml(['supervisor', 'wait', 'rpi-1', '--timeout', '300ms']);
    t.is(timedOut.status, 11);
    t.regex(timedOut.stderr, /supervisor rpi-1: held by alice since 2025-10-31T11:00:00\.000Z \(job .*\); waiting\n/);
    t.regex(timedOut.stderr, /tml: supervisor rpi-1 still busy after 300ms\n$/);
    const waiting = tml(['supervisor', 'wait', 'rpi-1']);
    await new Promise((r) => setTimeout(r, 800));
    sb.supervisors[SUP_A] = { status: 'idle', id: SUP_A, name: 'rpi-1', tags: ['board:x'] };
    const r = await waiting;
    t.is(r.status, 0, r.stderr);
    t.regex(r.stderr, /supervisor rpi-1: idle\n$/);
  }));

test('supervisor release cancels the job that holds it', (t) =>
  withFake(async ({ sb, tml }) => {
    supervisors(sb);
    sb.addJob(jobStatus(J2, { state: 'ready', supervisor: { id: SUP_A, name: 'rpi-1' } }));
    const r = await tml(['supervisor', 'release', 'rpi-1']);
    t.is(r.status, 0, r.stderr);
    t.is(r.stderr, `supervisor rpi-1: canceled job ${J2} of alice\n`);
    t.true(sb.requests.some((q) => q.method === 'DELETE' && q.url === `/api/v1/jobs/${J2}`));
    t.is(sb.jobs.get(J2)!.state.result!.exit_status, 'job_canceled');
    const idle = await tml(['supervisor', 'release', 'rpi-2']);
    t.is(idle.stderr, 'supervisor rpi-2 holds no job (idle)\n');
  }));

test('--supervisor asks for that supervisor by a tml.supervisor: tag beside the pool tags', (t) =>
  withFake(async ({ sb, tml }) => {
    const r = await tml(['job', 'enqueue', IMAGE, '--tag-config', 'board:x', '-s', 'rpi-1']);
    t.is(r.status, 0, r.stderr);
    t.is((sb.enqueued[0] as { tag_config: string }).tag_config, 'board:x;tml.supervisor:rpi-1');
  }));

test('a switchboard that accepts connections and never answers ends a command with one line', async (t) => {
  const sockets: Socket[] = [];
  const server = createServer((s) => sockets.push(s));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const home = makeHome();
  try {
    const r = await runTml(['--request-timeout', '500ms', 'job', 'list'], home, {
      env: { TML_SWITCHBOARD_URL: url, TML_API_TOKEN: Buffer.alloc(128, 1).toString('base64') },
    });
    t.is(r.status, 1);
    t.is(r.stderr, `tml: no answer from the switchboard at ${url} within 0.5 s (--request-timeout)\n`);
  } finally {
    sockets.forEach((s) => s.destroy());
    server.close();
    home.cleanup();
  }
});

test('--json prints the JSON alone on stdout, for every command that reports something', (t) =>
  withFake(async ({ sb, tml }) => {
    threeJobs(sb);
    supervisors(sb);
    sb.finish(J2);
    sb.console(J2, 'console bytes\n');
    const commands: string[][] = [
      ['job', 'status', J1],
      ['job', 'list'],
      ['job', 'events', J2],
      ['job', 'wait', J2],
      ['job', 'cancel', J3],
      ['job', 'enqueue', IMAGE],
      ['supervisor', 'list'],
      ['supervisor', 'status', 'rpi-2'],
      ['supervisor', 'pools'],
      ['supervisor', 'wait', 'rpi-2'],
      ['whoami'],
      ['logout'],
    ];
    for (const args of commands) {
      const r = await tml(['--json', ...args]);
      t.is(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
      t.notThrows(() => JSON.parse(r.stdout), args.join(' '));
    }
    const logs = await tml(['--json', 'job', 'logs', J2]);
    t.deepEqual(JSON.parse(logs.stdout), { offset: 0, data_base64: Buffer.from('console bytes\n').toString('base64') });
  }));

test('job run longer than 5 s streams its console without a MaxListenersExceededWarning', (t) =>
  withFake(async ({ sb, tml }) => {
    const id = sb.nextJobId;
    let n = 0;
    const timer = setInterval(() => {
      if (!sb.jobs.has(id)) return;
      if (n === 0) sb.jobs.set(id, jobStatus(id, { state: 'ready', supervisor: { id: SUP_A, name: 'rpi-1' } }));
      sb.console(id, `tick ${n++}\n`);
      if (n === 20) {
        clearInterval(timer);
        sb.finish(id);
      }
    }, 300);
    const r = await tml(['job', 'run', IMAGE]);
    clearInterval(timer);
    t.is(r.status, 0, r.stderr);
    t.true(r.ms > 5500, `${r.ms} ms`);
    t.is(r.stdout, Array.from({ length: 20 }, (_, i) => `tick ${i}\n`).join(''));
    t.false(r.stderr.includes('MaxListenersExceededWarning'), r.stderr);
    t.false(r.stderr.includes('Warning'), r.stderr);
  }));

test('job run --completion-timeout cancels a job whose completion text does not come and exits 13', (t) =>
  withFake(async ({ sb, tml }) => {
    const id = sb.nextJobId;
    const timer = setInterval(() => {
      if (sb.jobs.get(id)?.state.type === 'queued') {
        sb.jobs.set(id, jobStatus(id, { state: 'ready', supervisor: { id: SUP_A, name: 'rpi-1' } }));
        sb.console(id, 'booting\n');
      }
    }, 100);
    const r = await tml(['job', 'run', IMAGE, '--completion-text', 'passed', '-d', '1s', '--json']);
    clearInterval(timer);
    t.is(r.status, 13, r.stderr);
    t.regex(r.stderr, new RegExp(`job ${id}: no completion text within 1s; canceled the job\n`));
    t.like(JSON.parse(r.stdout), { job_id: id, result: 'completion_timeout', exit_code: 13 });
    t.is(sb.jobs.get(id)!.state.result!.exit_status, 'job_canceled');
  }));

test('job ssh runs ssh to the endpoint as the user, with the host key the switchboard gives', (t) =>
  withFake(async ({ sb, home, tml }) => {
    const status = jobStatus(J1, { state: 'ready' });
    status.state.ssh_endpoints = [{ host: 'lab.example.org', port: 2201 }];
    status.state.ssh_user = 'tml';
    status.state.ssh_host_keys = ['ssh-ed25519 AAAAhostkey'];
    sb.addJob(status);
    const fake = join(home.dir, 'ssh');
    writeFileSync(
      fake,
      `#!/bin/sh\nprintf '%s\\n' "$@" > "${home.dir}/args"\nfor a; do case "$a" in -oUserKnownHostsFile=*) cat "\${a#-oUserKnownHostsFile=}" > "${home.dir}/known";; esac; done\nexit 3\n`,
    );
    chmodSync(fake, 0o755);
    const r = await tml(['job', 'ssh', J1, '--', 'uname', '-a'], { env: { PATH: `${home.dir}:${process.env.PATH}` } });
    t.is(r.status, 3, r.stderr);
    const args = readFileSync(join(home.dir, 'args'), 'utf8').trim().split('\n');
    t.deepEqual(args.slice(-6), ['-p', '2201', '--', 'tml@lab.example.org', 'uname', '-a']);
    t.true(args.includes('-oStrictHostKeyChecking=yes'));
    t.is(readFileSync(join(home.dir, 'known'), 'utf8'), '[lab.example.org]:2201 ssh-ed25519 AAAAhostkey\n');
    sb.addJob(jobStatus(J2, { state: 'ready' }));
    const none = await tml(['job', 'ssh', J2]);
    t.is(none.status, 1);
    t.regex(none.stderr, new RegExp(`^tml: job ${J2} has no SSH endpoint \\(state ready;`));
  }));

test('tml --version and -V print the version', async (t) => {
  const home = makeHome();
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  for (const flag of ['--version', '-V']) t.is((await runTml([flag], home)).stdout, `tml ${pkg.version}\n`);
  home.cleanup();
});
