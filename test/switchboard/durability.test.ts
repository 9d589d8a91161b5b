import test from 'ava';
import { join } from 'node:path';
import type { JobStatus } from '../../protocol/switchboard-api.js';
import { FakeSupervisor, jobRequest, tempDir } from './harness.js';
import { adminOk, serve } from './process.js';

async function api(url: string, token: string, method: string, path: string, body?: unknown): Promise<any> {
  const res = await fetch(`${url}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  return res.json();
}

async function statusUntil(
  url: string,
  token: string,
  id: string,
  pred: (s: JobStatus) => boolean,
): Promise<JobStatus> {
  for (;;) {
    const s = (await api(url, token, 'GET', `/jobs/${id}/status`)).job_status as JobStatus;
    if (pred(s)) return s;
    await new Promise((r) => setTimeout(r, 25));
  }
}

test('kill -9 with queued and running jobs loses nothing; running jobs are reconciled on reconnect', async (t) => {
  const { dir, cleanup } = tempDir();
  const db = join(dir, 'sb.sqlite');
  adminOk(['user', 'add', 'alice', '--db', db]);
  const token = adminOk(['token', 'create', '--db', db, '--user', 'alice']);
  const keeps = JSON.parse(adminOk(['supervisor', 'add', 'keeps', '--db', db, '--tags', 'board:a', '--json'])) as {
    id: string;
    token: string;
  };
  const loses = JSON.parse(adminOk(['supervisor', 'add', 'loses', '--db', db, '--tags', 'board:b', '--json'])) as {
    id: string;
    token: string;
  };
  const secret = 'never-log-this-4711';
  const enqueue = async (url: string, tag: string) =>
    (
      await api(
        url,
        token,
        'POST',
        '/jobs/new',
        jobRequest({ tag_config: tag, parameters: { key: { value: secret, secret: true } } }),
      )
    ).job_id as string;

  const first = await serve(db, ['--grace-period', '60s', '--log-level', 'debug']);
  let second: Awaited<ReturnType<typeof serve>> | undefined;
  const fakes: FakeSupervisor[] = [];
  try {
    const supA = await FakeSupervisor.connect(first.url, keeps.id, keeps.token);
    const supB = await FakeSupervisor.connect(first.url, loses.id, loses.token);
    fakes.push(supA, supB);
    const runningA = await enqueue(first.url, 'board:a');
    const runningB = await enqueue(first.url, 'board:b');
    await supA.next('start_job', (m) => m.message.job_id === runningA);
    await supB.next('start_job', (m) => m.message.job_id === runningB);
    supA.transition(runningA, { state: 'ready' });
    supB.transition(runningB, { state: 'initializing', stage: 'booting' });
    const queued = [await enqueue(first.url, 'board:a'), await enqueue(first.url, 'board:a')];
    await statusUntil(first.url, token, runningA, (s) => s.state.type === 'ready');
    await statusUntil(first.url, token, runningB, (s) => s.state.type === 'initializing');

    first.child.kill('SIGKILL');
    await first.exited;
    await Promise.all(fakes.map((f) => f.close()));

    second = await serve(db, ['--grace-period', '60s', '--log-level', 'debug']);
    const all = (await api(second.url, token, 'GET', '/jobs')).jobs as Record<string, JobStatus>;
    t.is(Object.keys(all).length, 4);
    t.is(all[runningA]?.state.type, 'ready');
    t.is(all[runningB]?.state.type, 'initializing');
    for (const id of queued) t.is(all[id]?.state.type, 'queued');

    // One supervisor comes back still running its job, the other comes back idle.
    const backA = await FakeSupervisor.connect(second.url, keeps.id, keeps.token, {
      type: 'ongoing_job',
      job_id: runningA,
      job_state: { state: 'ready' },
    });
    const backB = await FakeSupervisor.connect(second.url, loses.id, loses.token, { type: 'idle' });
    fakes.push(backA, backB);
    const dropped = await statusUntil(second.url, token, runningB, (s) => s.state.type === 'terminated');
    t.is(dropped.state.result?.exit_status, 'supervisor_dropped_job');
    await backA.next('status_request');
    t.is((await api(second.url, token, 'GET', `/jobs/${runningA}/status`)).job_status.state.type, 'ready');
    backA.finish(runningA);
    t.is(
      (await statusUntil(second.url, token, runningA, (s) => s.state.type === 'terminated')).state.result?.exit_status,
      'workload_finished_success',
    );
    // The queued jobs then run in order, secrets intact.
    const start = await backA.next('start_job', (m) => m.message.job_id === queued[0]);
    t.is(start.message.parameters.key!.value, secret);
    t.false(first.stderr().includes(secret));
    t.false(second.stderr().includes(secret));
  } finally {
    await Promise.all(fakes.map((f) => f.close()));
    first.child.kill('SIGKILL');
    if (second) {
      second.child.kill('SIGTERM');
      t.is(await second.exited, 0);
    }
    cleanup();
  }
});
