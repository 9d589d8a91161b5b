import test from 'ava';
import { request } from 'node:http';
import { WebSocket } from 'ws';
import type { SwitchboardOptions } from '../../switchboard/server.js';
import { FakeSupervisor, jobRequest, startHarness, type Harness } from './harness.js';

interface Ctx {
  h: Harness;
  sup: { id: string; token: string };
  fake: FakeSupervisor;
  enqueue(tags?: string, extra?: Parameters<typeof jobRequest>[0]): Promise<string>;
  /** Enqueues a job and waits until the fake supervisor got its start_job. */
  started(extra?: Parameters<typeof jobRequest>[0]): Promise<string>;
}

async function withSupervisor(opts: Partial<SwitchboardOptions>, fn: (c: Ctx) => Promise<void>): Promise<void> {
  const h = await startHarness(opts);
  const sup = h.addSupervisor('sup-a', 'board:x;site:y');
  const fake = await FakeSupervisor.connect(h.url, sup.id, sup.token);
  const enqueue = async (tags = 'board:x', extra = {}) => {
    const r = await h.api(h.tokens.alice, 'POST', '/jobs/new', jobRequest({ tag_config: tags, ...extra }));
    if (r.status !== 200) throw new Error(r.text);
    return r.json.job_id as string;
  };
  const ctx: Ctx = {
    h,
    sup,
    fake,
    enqueue,
    async started(extra = {}) {
      const id = await enqueue('board:x', extra);
      await fake.next('start_job', (m) => m.message.job_id === id);
      return id;
    },
  };
  try {
    await fn(ctx);
  } finally {
    await fake.close();
    await h.close();
  }
}

const terminated = (c: Ctx, id: string) => c.h.waitJob(id, (j) => j.state === 'terminated');

test('a job runs on a connected supervisor whose tags contain all of its tags', (t) =>
  withSupervisor({}, async (c) => {
    const other = c.h.addSupervisor('sup-b', 'board:z');
    const fakeB = await FakeSupervisor.connect(c.h.url, other.id, other.token);
    const id = await c.enqueue('site:y;board:x');
    const start = await c.fake.next('start_job', (m) => m.message.job_id === id);
    t.is(start.message.image_spec.type, 'image');
    t.is(c.h.sb.jobs.get(id)!.supervisor_id, c.sup.id);
    t.false(fakeB.received.some((m) => m.type === 'start_job'));
    await fakeB.close();
  }));

test('a job no registered supervisor could ever run is refused with supervisor_match_error and not created', (t) =>
  withSupervisor({}, async (c) => {
    const r = await c.h.api(c.h.tokens.alice, 'POST', '/jobs/new', jobRequest({ tag_config: 'board:x;board:nrf' }));
    t.is(r.status, 404);
    t.like(r.json, { type: 'supervisor_match_error' });
    t.is(c.h.sb.db.jobs(null, 10).length, 0);
    t.false(c.fake.received.some((m) => m.type === 'start_job'));
  }));

test('a job whose only matching supervisor is disconnected waits in the queue', (t) =>
  withSupervisor({}, async (c) => {
    const other = c.h.addSupervisor('sup-b', 'board:z');
    const id = await c.enqueue('board:z');
    t.is(c.h.sb.jobs.get(id)!.state, 'queued');
    const fakeB = await FakeSupervisor.connect(c.h.url, other.id, other.token);
    await fakeB.next('start_job', (m) => m.message.job_id === id);
    await fakeB.close();
    t.pass();
  }));

test('jobs start in enqueue order', (t) =>
  withSupervisor({}, async (c) => {
    await c.fake.close();
    const ids = [await c.enqueue(), await c.enqueue(), await c.enqueue()];
    const fake = await FakeSupervisor.connect(c.h.url, c.sup.id, c.sup.token);
    for (const id of ids) {
      await fake.next('start_job', (m) => m.message.job_id === id);
      t.deepEqual(
        fake.received
          .filter((m) => m.type === 'start_job')
          .map((m) => (m as { message: { job_id: string } }).message.job_id),
        ids.slice(0, ids.indexOf(id) + 1),
      );
      fake.finish(id);
      await terminated(c, id);
    }
    await fake.close();
  }));

test('start_job carries the parameters, secret values included', (t) =>
  withSupervisor({}, async (c) => {
    const params = { token: { value: 's3cret', secret: true }, mode: { value: 'fast', secret: false } };
    const id = await c.enqueue('board:x', { parameters: params, ssh_keys: ['ssh-ed25519 AAAAkey me'] });
    const start = await c.fake.next('start_job', (m) => m.message.job_id === id);
    t.deepEqual(start.message.parameters, params);
    t.deepEqual(start.message.ssh_keys, ['ssh-ed25519 AAAAkey me']);
  }));

test("a healthy run ends Terminated with the workload's exit status and records every step", (t) =>
  withSupervisor({}, async (c) => {
    const id = await c.started();
    c.fake.transition(id, { state: 'initializing', stage: 'fetching_image' });
    c.fake.transition(id, { state: 'initializing', stage: 'booting' });
    c.fake.transition(id, { state: 'ready' });
    c.fake.transition(id, { state: 'ready' }, 'flashing board');
    c.fake.declare(id, 'success', 'all good');
    c.fake.transition(id, { state: 'terminating' });
    c.fake.transition(id, { state: 'terminated' });
    const job = await terminated(c, id);
    t.is(job.exit_status, 'workload_finished_success');
    t.is(job.exit_message, 'all good');
    const events = (await c.h.api(c.h.tokens.alice, 'GET', `/jobs/${id}/events`)).json.events as Array<
      Record<string, unknown>
    >;
    t.deepEqual(
      events.map((e) => [e.kind, e.by, e.state, e.stage, e.status_message, e.exit_status]),
      [
        ['state', 'switchboard', 'queued', null, null, null],
        ['state', 'switchboard', 'scheduled', null, null, null],
        ['state', 'supervisor', 'initializing', 'fetching_image', null, null],
        ['sub_state', 'supervisor', 'initializing', 'booting', null, null],
        ['state', 'supervisor', 'ready', null, null, null],
        ['sub_state', 'supervisor', 'ready', null, 'flashing board', null],
        ['exit_status', 'supervisor', 'ready', null, 'all good', 'workload_finished_success'],
        ['state', 'supervisor', 'terminating', null, null, 'workload_finished_success'],
        ['state', 'supervisor', 'terminated', null, null, 'workload_finished_success'],
      ],
    );
    t.true(events.every((e) => typeof e.at === 'string' && !Number.isNaN(Date.parse(e.at as string))));
  }));

test('an illegal transition from a supervisor is refused, logged and not stored', (t) =>
  withSupervisor({}, async (c) => {
    const id = await c.started();
    c.fake.transition(id, { state: 'terminating' });
    await c.h.waitJob(id, (j) => j.state === 'terminating');
    const before = c.h.sb.db.events(id).length;
    c.fake.transition(id, { state: 'ready' });
    c.fake.transition(id, { state: 'terminated' });
    await terminated(c, id);
    t.true(
      c.h.logLines.some((l) => /refused transition to ready .*terminating -> ready is not a legal transition/.test(l)),
    );
    t.false(c.h.sb.db.events(id).some((e) => e.state === 'ready'));
    t.is(c.h.sb.db.events(id).length, before + 2); // the exit status the switchboard supplied, and terminated
  }));

test('a job a supervisor ends without any exit status gets InternalSupervisorError', (t) =>
  withSupervisor({}, async (c) => {
    const id = await c.started();
    c.fake.transition(id, { state: 'ready' });
    c.fake.transition(id, { state: 'terminated' });
    t.is((await terminated(c, id)).exit_status, 'internal_supervisor_error');
  }));

test('a host start error from the supervisor becomes SupervisorHostStartError', (t) =>
  withSupervisor({}, async (c) => {
    const id = await c.started();
    c.fake.transition(id, { state: 'initializing', stage: 'fetching_image' });
    c.fake.event(id, { type: 'error', error: { kind: 'host_start_error', message: 'image not in store' } });
    c.fake.transition(id, { state: 'terminated' });
    const job = await terminated(c, id);
    t.is(job.exit_status, 'supervisor_host_start_failure');
    t.is(job.exit_message, 'image not in store');
  }));

test('a final exit status is not overwritten by a later workload result', (t) =>
  withSupervisor({}, async (c) => {
    const id = await c.started();
    c.fake.transition(id, { state: 'ready' });
    await c.h.waitJob(id, (j) => j.state === 'ready');
    await c.h.api(c.h.tokens.alice, 'DELETE', `/jobs/${id}`);
    c.fake.declare(id, 'unknown');
    c.fake.transition(id, { state: 'terminated' });
    t.is((await terminated(c, id)).exit_status, 'job_canceled');
    t.true(c.h.logLines.some((l) => /refused exit status workload_finished_unknown/.test(l)));
  }));

test('events for a job that is not running on the supervisor are refused', (t) =>
  withSupervisor({}, async (c) => {
    const other = c.h.addSupervisor('sup-b', 'board:x');
    const id = await c.started();
    const fakeB = await FakeSupervisor.connect(c.h.url, other.id, other.token);
    fakeB.transition(id, { state: 'terminated' });
    c.fake.transition(id, { state: 'ready' });
    await c.h.waitJob(id, (j) => j.state === 'ready');
    t.true(c.h.logLines.some((l) => /refused state_transition from supervisor sup-b/.test(l)));
    await fakeB.close();
  }));

test('QueueTimeout ends a job no supervisor took in time', (t) =>
  withSupervisor({ queueTimeoutMs: 200 }, async (c) => {
    await c.fake.close();
    const id = await c.enqueue();
    const job = await terminated(c, id);
    t.is(job.exit_status, 'queue_timeout');
  }));

test('JobTimeout stops a job that runs too long', (t) =>
  withSupervisor({ jobTimeoutMs: 200 }, async (c) => {
    const id = await c.started();
    c.fake.transition(id, { state: 'ready' });
    await c.fake.next('stop_job', (m) => m.message.job_id === id);
    t.is(c.h.sb.jobs.get(id)!.exit_status, 'job_timeout');
    c.fake.transition(id, { state: 'terminating' });
    c.fake.transition(id, { state: 'terminated' });
    t.is((await terminated(c, id)).exit_status, 'job_timeout');
  }));

test('override_timeout replaces the default job timeout', (t) =>
  withSupervisor({ jobTimeoutMs: 3_600_000 }, async (c) => {
    const id = await c.started({ override_timeout: '1s' });
    await c.fake.next('stop_job', (m) => m.message.job_id === id);
    t.is(c.h.sb.jobs.get(id)!.exit_status, 'job_timeout');
  }));

test('canceling a queued job ends it at once', (t) =>
  withSupervisor({}, async (c) => {
    await c.fake.close();
    const id = await c.enqueue();
    const r = await c.h.api(c.h.tokens.alice, 'DELETE', `/jobs/${id}`);
    t.is(r.status, 200);
    t.is(r.json.job_status.state.type, 'terminated');
    t.is(r.json.job_status.state.result.exit_status, 'job_canceled');
  }));

const RUNNING_STATES: Array<[string, (c: Ctx, id: string) => void]> = [
  ['scheduled', () => {}],
  ['initializing', (c, id) => c.fake.transition(id, { state: 'initializing', stage: 'booting' })],
  ['ready', (c, id) => c.fake.transition(id, { state: 'ready' })],
  ['terminating', (c, id) => c.fake.transition(id, { state: 'terminating' })],
];

for (const [state, reach] of RUNNING_STATES) {
  test(`canceling a ${state} job stops it on its supervisor and ends it JobCanceled`, (t) =>
    withSupervisor({}, async (c) => {
      const id = await c.started();
      reach(c, id);
      await c.h.waitJob(id, (j) => j.state === state);
      const r = await c.h.api(c.h.tokens.alice, 'DELETE', `/jobs/${id}`);
      t.is(r.status, 200);
      t.is(r.json.job_status.exit_status, 'job_canceled');
      await c.fake.next('stop_job', (m) => m.message.job_id === id);
      if (state !== 'terminating') c.fake.transition(id, { state: 'terminating' });
      c.fake.transition(id, { state: 'terminated' });
      t.is((await terminated(c, id)).exit_status, 'job_canceled');
    }));
}

test('canceling a terminated job answers ok and changes nothing, as upstream', (t) =>
  withSupervisor({}, async (c) => {
    const id = await c.started();
    c.fake.finish(id);
    await terminated(c, id);
    const r = await c.h.api(c.h.tokens.alice, 'DELETE', `/jobs/${id}`);
    t.is(r.status, 200);
    t.is(r.json.type, 'ok');
    t.is(r.json.job_status.state.result.exit_status, 'workload_finished_success');
    t.is(c.h.sb.jobs.get(id)!.exit_status, 'workload_finished_success');
  }));

test('a supervisor that ignores stop_job loses the job after the grace period', (t) =>
  withSupervisor({ gracePeriodMs: 200 }, async (c) => {
    const id = await c.started();
    await c.h.api(c.h.tokens.alice, 'DELETE', `/jobs/${id}`);
    const job = await terminated(c, id);
    t.is(job.exit_status, 'job_canceled');
    t.like((await c.h.api(c.h.tokens.alice, 'GET', `/supervisors/${c.sup.id}/status`)).json.status, {
      status: 'busy',
      job_id: id,
      job_state: { state: 'terminating' },
    });
  }));

test('a supervisor that stays away past the grace period loses its job: SupervisorDroppedJob', (t) =>
  withSupervisor({ gracePeriodMs: 200 }, async (c) => {
    const id = await c.started();
    c.fake.transition(id, { state: 'ready' });
    await c.h.waitJob(id, (j) => j.state === 'ready');
    await c.fake.close();
    const job = await terminated(c, id);
    t.is(job.exit_status, 'supervisor_dropped_job');
  }));

test('a supervisor that reconnects within the grace period still running the job keeps it', (t) =>
  withSupervisor({ gracePeriodMs: 60_000 }, async (c) => {
    const id = await c.started();
    c.fake.transition(id, { state: 'ready' });
    await c.h.waitJob(id, (j) => j.state === 'ready');
    await c.fake.close();
    const back = await FakeSupervisor.connect(c.h.url, c.sup.id, c.sup.token, {
      type: 'ongoing_job',
      job_id: id,
      job_state: { state: 'ready' },
    });
    await back.next('status_request');
    back.declare(id, 'success');
    back.transition(id, { state: 'terminated' });
    t.is((await terminated(c, id)).exit_status, 'workload_finished_success');
    await back.close();
  }));

test('a supervisor that reconnects idle has dropped its job: SupervisorDroppedJob', (t) =>
  withSupervisor({ gracePeriodMs: 60_000 }, async (c) => {
    const id = await c.started();
    c.fake.transition(id, { state: 'ready' });
    await c.h.waitJob(id, (j) => j.state === 'ready');
    await c.fake.close();
    const back = await FakeSupervisor.connect(c.h.url, c.sup.id, c.sup.token, { type: 'idle' });
    t.is((await terminated(c, id)).exit_status, 'supervisor_dropped_job');
    await back.close();
  }));

test('a supervisor running a job unknown here is told to stop it and gets no work until it has', (t) =>
  withSupervisor({}, async (c) => {
    await c.fake.close();
    const stray = '11111111-2222-4333-8444-555555555555';
    const back = await FakeSupervisor.connect(c.h.url, c.sup.id, c.sup.token, {
      type: 'ongoing_job',
      job_id: stray,
      job_state: { state: 'ready' },
    });
    await back.next('stop_job', (m) => m.message.job_id === stray);
    const id = await c.enqueue();
    t.is(c.h.sb.jobs.get(id)!.state, 'queued');
    back.transition(stray, { state: 'terminated' });
    await back.next('start_job', (m) => m.message.job_id === id);
    await back.close();
  }));

test('a new connection of the same supervisor replaces the old one', (t) =>
  withSupervisor({}, async (c) => {
    const closed = new Promise<number>((resolve) => c.fake.ws.once('close', (code) => resolve(code)));
    const second = await FakeSupervisor.connect(c.h.url, c.sup.id, c.sup.token);
    t.is(await closed, 4000);
    const id = await c.enqueue();
    await second.next('start_job', (m) => m.message.job_id === id);
    await second.close();
  }));

test('the console log is kept, readable from an offset, and followable until the job ends', (t) =>
  withSupervisor({}, async (c) => {
    const id = await c.started();
    c.fake.transition(id, { state: 'ready' });
    c.fake.console(id, 'hello ');
    c.fake.console(id, 'world\n');
    await c.h.waitJob(id, (j) => j.log_end === 12 && j.state === 'ready');
    const all = await c.h.api(c.h.tokens.alice, 'GET', `/jobs/${id}/log`);
    t.is(all.text, 'hello world\n');
    const tail = await c.h.api(c.h.tokens.alice, 'GET', `/jobs/${id}/log?offset=6`);
    t.is(tail.text, 'world\n');
    const res = await fetch(`${c.h.url}/api/v1/jobs/${id}/log?offset=6&follow=1`, {
      headers: { authorization: `Bearer ${c.h.tokens.alice}` },
    });
    const body = res.text();
    c.fake.console(id, 'more\n');
    c.fake.declare(id, 'success');
    c.fake.transition(id, { state: 'terminated' });
    t.is(await body, 'world\nmore\n');
  }));

test('only the newest console output is kept when a job writes more than the limit', (t) =>
  withSupervisor({ logKeepBytes: 1000 }, async (c) => {
    const id = await c.started();
    for (let i = 0; i < 30; i++) c.fake.console(id, `${String(i).padStart(3, '0')}${'.'.repeat(96)}\n`);
    await c.h.waitJob(id, (j) => j.log_end === 3000);
    const r = await c.h.api(c.h.tokens.alice, 'GET', `/jobs/${id}/log`);
    t.true(r.text.length <= 1100 && r.text.length >= 1000);
    t.true(r.text.endsWith(`029${'.'.repeat(96)}\n`));
    t.is(
      Number(
        (
          await c.h.sb.app.inject({
            url: `/api/v1/jobs/${id}/log`,
            headers: { authorization: `Bearer ${c.h.tokens.alice}` },
          })
        ).headers['x-log-offset'],
      ),
      3000 - r.text.length,
    );
  }));

test('a supervisor with a wrong token is refused with 401', (t) =>
  withSupervisor({}, async (c) => {
    const err = await t.throwsAsync(FakeSupervisor.connect(c.h.url, c.sup.id, 'wrong-token'));
    t.is(err?.message, 'HTTP 401');
  }));

test('a supervisor connection without the treadmillv1 subprotocol is refused', (t) =>
  withSupervisor({}, async (c) => {
    const ws = new WebSocket(`${c.h.url.replace('http', 'ws')}/api/v1/supervisors/${c.sup.id}/connect`, {
      headers: { authorization: `Bearer ${c.sup.token}` },
    });
    const status = await new Promise<number>((resolve) =>
      ws.once('unexpected-response', (_q, res) => resolve(res.statusCode ?? 0)),
    );
    t.is(status, 400);
  }));

test('a malformed supervisor message is logged and the connection keeps working', (t) =>
  withSupervisor({}, async (c) => {
    const id = await c.started();
    c.fake.ws.send('{"type": "supervisor_event", "message": 5}');
    c.fake.ws.send('not json');
    c.fake.transition(id, { state: 'ready' });
    await c.h.waitJob(id, (j) => j.state === 'ready');
    t.true(c.h.logLines.some((l) => /refused malformed message/.test(l)));
  }));

test('a plain GET of the connect endpoint gets 426', (t) =>
  withSupervisor({}, async (c) => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(
        `${c.h.url}/api/v1/supervisors/${c.sup.id}/connect`,
        { headers: { authorization: `Bearer ${c.h.tokens.alice}` } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.end();
    });
    t.is(status, 426);
  }));

test('a supervisor that stops answering pings is disconnected and, after the grace period, loses its job', (t) =>
  withSupervisor({ pingIntervalMs: 1000, gracePeriodMs: 200 }, async (c) => {
    await c.fake.close();
    // Queued first, so it starts the moment the supervisor connects, well before a missed ping.
    const id = await c.enqueue();
    const mute = await FakeSupervisor.connect(c.h.url, c.sup.id, c.sup.token, { type: 'idle' }, { answerPings: false });
    const closed = new Promise<void>((resolve) => mute.ws.once('close', () => resolve()));
    await mute.next('start_job', (m) => m.message.job_id === id);
    await closed;
    t.is((await terminated(c, id)).exit_status, 'supervisor_dropped_job');
    t.true(c.h.logLines.some((l) => /supervisor sup-a .* disconnected/.test(l)));
  }));

test('a ready job may go back to initializing when its host reboots', (t) =>
  withSupervisor({}, async (c) => {
    const id = await c.started();
    c.fake.transition(id, { state: 'ready' });
    c.fake.transition(id, { state: 'initializing', stage: 'booting' }, 'rebooting');
    c.fake.transition(id, { state: 'ready' });
    c.fake.declare(id, 'success');
    c.fake.transition(id, { state: 'terminated' });
    await terminated(c, id);
    t.deepEqual(
      c.h.sb.db
        .events(id)
        .filter((e) => e.kind === 'state')
        .map((e) => e.state),
      ['queued', 'scheduled', 'ready', 'initializing', 'ready', 'terminated'],
    );
  }));

test('a log follower that goes away leaves no listener behind', (t) =>
  withSupervisor({}, async (c) => {
    const id = await c.started();
    const baseline = c.h.sb.jobs.listenerCount('log');
    const abort = new AbortController();
    const res = await fetch(`${c.h.url}/api/v1/jobs/${id}/log?follow=1`, {
      headers: { authorization: `Bearer ${c.h.tokens.alice}` },
      signal: abort.signal,
    });
    t.is(res.status, 200);
    t.is(c.h.sb.jobs.listenerCount('log'), baseline + 1);
    abort.abort();
    while (c.h.sb.jobs.listenerCount('log') > baseline) await new Promise((r) => setTimeout(r, 10));
    t.pass();
  }));
