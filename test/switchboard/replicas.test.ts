// Several switchboard replicas on one PostgreSQL database: jobs and supervisors spread over them,
// each job runs once, no supervisor runs two, and what one replica decides reaches the
// supervisors another holds.

import type { ExecutionContext } from 'ava';
import pg from 'pg';
import { parseToSupervisor } from '../../protocol/switchboard-ws.js';
import { API_PREFIX } from '../../protocol/switchboard-api.js';
import { newToken } from '../../switchboard/auth.js';
import { createLogger } from '../../protocol/log.js';
import { Switchboard } from '../../switchboard/server.js';
import { FakeSupervisor, jobRequest } from './harness.js';
import { adminOk, serve } from './process.js';
import { freshDatabase, postgresTest } from './postgres.js';

const test = postgresTest();

interface Replicas {
  /** The database's URL. */
  db: string;
  sbs: Switchboard[];
  urls: string[];
  token: string;
  logs: string[][];
  supervisor(name: string, tags?: string): Promise<{ id: string; token: string }>;
}

async function replicas(t: ExecutionContext, n: number): Promise<Replicas> {
  const db = await freshDatabase(t);
  const logs: string[][] = [];
  const sbs: Switchboard[] = [];
  for (let i = 0; i < n; i++) {
    const lines: string[] = [];
    logs.push(lines);
    sbs.push(
      await Switchboard.open({
        db,
        log: createLogger({ level: 'debug', write: (l) => lines.push(l) }),
        queueTimeoutMs: 600_000,
        jobTimeoutMs: 600_000,
        gracePeriodMs: 600_000,
        web: false,
      }),
    );
  }
  t.teardown(async () => {
    for (const sb of sbs) await sb.close();
  });
  const urls = await Promise.all(sbs.map((sb) => sb.listen('127.0.0.1', 0)));
  const alice = await sbs[0]!.db.addUser('alice', null, false);
  const tk = newToken();
  await sbs[0]!.db.addToken(tk.hash, alice.id, null);
  return {
    db,
    sbs,
    urls,
    token: tk.token,
    logs,
    async supervisor(name, tags = 'board:x') {
      const s = newToken();
      const row = await sbs[0]!.db.addSupervisor(name, tags, s.hash);
      return { id: row.id, token: s.token };
    },
  };
}

async function api(url: string, token: string, method: string, path: string, body?: unknown) {
  const res = await fetch(`${url}${API_PREFIX}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as any };
}

async function terminated(url: string, token: string, id: string): Promise<any> {
  for (;;) {
    const r = await api(url, token, 'GET', `/jobs/${id}/status`);
    if (r.json.job_status?.state?.type === 'terminated') return r.json.job_status;
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A supervisor that runs each job it is given to success at once, and notes what it ran. */
function autoRun(fake: FakeSupervisor, record: { starts: string[]; overlaps: number }): void {
  let running: string | null = null;
  fake.ws.on('message', (data) => {
    const msg = parseToSupervisor(data.toString());
    if (msg.type !== 'start_job') return;
    const id = msg.message.job_id;
    if (running !== null) record.overlaps++;
    running = id;
    record.starts.push(id);
    fake.transition(id, { state: 'ready' });
    fake.declare(id, 'success');
    fake.transition(id, { state: 'terminated' });
    // The next job may come only once this one's end is in.
    setTimeout(() => {
      if (running === id) running = null;
    }, 0);
  });
}

test('200 jobs over two replicas with 8 supervisors split across them each run exactly once, one at a time per supervisor', async (t) => {
  const r = await replicas(t, 2);
  const record = { starts: [] as string[], overlaps: 0 };
  const fakes: FakeSupervisor[] = [];
  for (let i = 0; i < 8; i++) {
    const s = await r.supervisor(`sup-${i}`);
    const fake = await FakeSupervisor.connect(r.urls[i % 2]!, s.id, s.token);
    autoRun(fake, record);
    fakes.push(fake);
  }
  t.teardown(() => Promise.all(fakes.map((f) => f.close())));
  const ids: string[] = [];
  await Promise.all(
    Array.from({ length: 8 }, async (_, client) => {
      for (let k = 0; k < 25; k++) {
        const res = await api(r.urls[client % 2]!, r.token, 'POST', '/jobs/new', jobRequest({ tag_config: 'board:x' }));
        t.is(res.status, 200, JSON.stringify(res.json));
        ids.push(res.json.job_id as string);
      }
    }),
  );
  // One job at a time, through both replicas in turn: the waiting costs the replicas little.
  for (const [i, id] of ids.entries()) {
    t.is((await terminated(r.urls[i % 2]!, r.token, id)).state.result.exit_status, 'workload_finished_success');
  }
  t.is(record.starts.length, 200);
  t.is(new Set(record.starts).size, 200);
  t.is(record.overlaps, 0);
});

test('a job another transaction holds locked is passed over, not waited for, and started once it is let go', async (t) => {
  const r = await replicas(t, 1);
  const s = await r.supervisor('only');
  const enqueue = async () =>
    (await api(r.urls[0]!, r.token, 'POST', '/jobs/new', jobRequest({ tag_config: 'board:x' }))).json.job_id as string;
  const [locked, free] = [await enqueue(), await enqueue()];
  // As another replica starting or cancelling the first job would hold it.
  const other = new pg.Client({ connectionString: r.db });
  await other.connect();
  t.teardown(() => other.end());
  await other.query('begin');
  await other.query('select 1 from jobs where id = $1 for update', [locked]);
  const fake = await FakeSupervisor.connect(r.urls[0]!, s.id, s.token);
  t.teardown(() => fake.close());
  await fake.next('start_job', (m) => m.message.job_id === free);
  fake.transition(free, { state: 'ready' });
  fake.declare(free, 'success');
  fake.transition(free, { state: 'terminated' });
  await terminated(r.urls[0]!, r.token, free);
  // Let go with the job still queued: nothing else happens that would make the replica look again.
  await other.query('commit');
  await fake.next('start_job', (m) => m.message.job_id === locked);
  t.pass();
});

test('a cancel through the replica that does not hold the supervisor stops the job there', async (t) => {
  const r = await replicas(t, 2);
  const s = await r.supervisor('held-by-a');
  const fake = await FakeSupervisor.connect(r.urls[0]!, s.id, s.token);
  t.teardown(() => fake.close());
  const id = (await api(r.urls[0]!, r.token, 'POST', '/jobs/new', jobRequest({ tag_config: 'board:x' }))).json.job_id;
  await fake.next('start_job', (m) => m.message.job_id === id);
  fake.transition(id, { state: 'ready' });
  t.is((await api(r.urls[1]!, r.token, 'DELETE', `/jobs/${id}`)).status, 200);
  await fake.next('stop_job', (m) => m.message.job_id === id);
  fake.transition(id, { state: 'terminated' });
  const end = await terminated(r.urls[1]!, r.token, id);
  t.is(end.state.result.exit_status, 'job_canceled');
});

test('logs --follow through one replica streams the console of a job whose supervisor another holds, to its end', async (t) => {
  const r = await replicas(t, 2);
  const s = await r.supervisor('held-by-a');
  const fake = await FakeSupervisor.connect(r.urls[0]!, s.id, s.token);
  t.teardown(() => fake.close());
  const id = (await api(r.urls[0]!, r.token, 'POST', '/jobs/new', jobRequest({ tag_config: 'board:x' }))).json.job_id;
  await fake.next('start_job', (m) => m.message.job_id === id);
  const res = await fetch(`${r.urls[1]}${API_PREFIX}/jobs/${id}/log?follow=true`, {
    headers: { authorization: `Bearer ${r.token}` },
  });
  t.is(res.status, 200);
  const body = res.text();
  fake.transition(id, { state: 'ready' });
  fake.console(id, 'boot\n');
  fake.console(id, 'test passed\n');
  fake.declare(id, 'success');
  fake.transition(id, { state: 'terminated' });
  t.is(await body, 'boot\ntest passed\n');
});

test('a job queued on one replica starts on a supervisor another holds, and its timeout is not fired twice', async (t) => {
  const r = await replicas(t, 2);
  const s = await r.supervisor('held-by-b');
  const fake = await FakeSupervisor.connect(r.urls[1]!, s.id, s.token);
  t.teardown(() => fake.close());
  const id = (
    await api(r.urls[0]!, r.token, 'POST', '/jobs/new', jobRequest({ tag_config: 'board:x', override_timeout: '1s' }))
  ).json.job_id;
  await fake.next('start_job', (m) => m.message.job_id === id);
  fake.transition(id, { state: 'ready' });
  // Both replicas armed the job's 1 s timeout; one stop comes, and the job ends job_timeout once.
  await fake.next('stop_job', (m) => m.message.job_id === id);
  fake.transition(id, { state: 'terminated' });
  const end = await terminated(r.urls[0]!, r.token, id);
  t.is(end.state.result.exit_status, 'job_timeout');
  const events = (await api(r.urls[0]!, r.token, 'GET', `/jobs/${id}/events`)).json.events as Array<{
    kind: string;
    exit_status: string | null;
  }>;
  t.is(events.filter((e) => e.kind === 'exit_status' && e.exit_status === 'job_timeout').length, 1);
  t.is(fake.received.filter((m) => m.type === 'stop_job').length, 1);
});

test('a replica killed with kill -9 mid-run loses nothing: its supervisors move to the other and every job ends once', async (t) => {
  const db = await freshDatabase(t);
  adminOk(['user', 'add', 'alice', '--db', db]);
  const token = adminOk(['token', 'create', '--db', db, '--user', 'alice']);
  const sups = Array.from(
    { length: 4 },
    (_, i) =>
      JSON.parse(adminOk(['supervisor', 'add', `s${i}`, '--db', db, '--tags', 'board:x', '--json'])) as {
        id: string;
        token: string;
      },
  );
  const a = await serve(db, ['--grace-period', '60s']);
  const b = await serve(db, ['--grace-period', '60s']);
  t.teardown(() => {
    a.child.kill('SIGKILL');
    b.child.kill('SIGTERM');
  });
  const starts = new Map<string, number>();
  const fakes: FakeSupervisor[] = [];
  // Each supervisor runs its job for a while, then ends it; one whose switchboard goes moves to
  // the other, reporting the job it runs, as tml-supervisor does. The jobs outlive the kill: what a
  // supervisor sends in the instant a replica dies is lost with the connection (the protocol has
  // no acknowledgements), and a job whose end was lost so ends SupervisorDroppedJob.
  const connect = async (i: number, url: string, ongoing: string | null): Promise<void> => {
    const sup = sups[i]!;
    const fake = await FakeSupervisor.connect(
      url,
      sup.id,
      sup.token,
      ongoing === null ? { type: 'idle' } : { type: 'ongoing_job', job_id: ongoing, job_state: { state: 'ready' } },
    );
    fakes.push(fake);
    let running = ongoing;
    const finish = (id: string) =>
      setTimeout(() => {
        if (fake.ws.readyState !== fake.ws.OPEN) return;
        fake.declare(id, 'success');
        fake.transition(id, { state: 'terminated' });
        running = null;
        fake.status = { type: 'idle' };
      }, 1500);
    if (ongoing !== null) finish(ongoing);
    fake.ws.on('message', (data) => {
      const msg = parseToSupervisor(data.toString());
      if (msg.type !== 'start_job') return;
      const id = msg.message.job_id;
      starts.set(id, (starts.get(id) ?? 0) + 1);
      running = id;
      fake.status = { type: 'ongoing_job', job_id: id, job_state: { state: 'ready' } };
      fake.transition(id, { state: 'ready' });
      finish(id);
    });
    fake.ws.once('close', () => {
      if (url === a.url) void connect(i, b.url, running);
    });
  };
  for (let i = 0; i < 4; i++) await connect(i, i % 2 ? b.url : a.url, null);
  t.teardown(() => Promise.all(fakes.map((f) => f.close())));
  const ids: string[] = [];
  for (let k = 0; k < 20; k++) {
    ids.push(
      (await api(k % 2 ? b.url : a.url, token, 'POST', '/jobs/new', jobRequest({ tag_config: 'board:x' }))).json.job_id,
    );
  }
  while (starts.size < 4) await new Promise((r) => setTimeout(r, 10));
  a.child.kill('SIGKILL');
  await a.exited;
  const ends = await Promise.all(ids.map((id) => terminated(b.url, token, id)));
  t.deepEqual(
    ends.map((e) => e.state.result.exit_status),
    ids.map(() => 'workload_finished_success'),
  );
  t.true([...starts.values()].every((n) => n === 1));
  t.is(starts.size, 20);
});
