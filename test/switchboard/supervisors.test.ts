import test from 'ava';
import fc from 'fast-check';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import type { SwitchboardOptions } from '../../switchboard/server.js';
import { connectPathId } from '../../switchboard/supervisor-hub.js';
import { FakeClock } from './fake-clock.js';
import { FakeSupervisor, jobRequest, startHarness, tempDir, type Harness } from './harness.js';
import { admin, adminOk, serve } from './process.js';

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
  const sup = await h.addSupervisor('sup-a', 'board:x;site:y');
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
    const other = await c.h.addSupervisor('sup-b', 'board:z');
    const fakeB = await FakeSupervisor.connect(c.h.url, other.id, other.token);
    const id = await c.enqueue('site:y;board:x');
    const start = await c.fake.next('start_job', (m) => m.message.job_id === id);
    t.is(start.message.image_spec.type, 'image');
    t.is((await c.h.sb.jobs.get(id))!.supervisor_id, c.sup.id);
    t.false(fakeB.received.some((m) => m.type === 'start_job'));
    await fakeB.close();
  }));

test('a job no registered supervisor could ever run is refused with supervisor_match_error and not created', (t) =>
  withSupervisor({}, async (c) => {
    const r = await c.h.api(c.h.tokens.alice, 'POST', '/jobs/new', jobRequest({ tag_config: 'board:x;board:nrf' }));
    t.is(r.status, 404);
    t.like(r.json, { type: 'supervisor_match_error' });
    t.is((await c.h.sb.db.jobPage({ limit: 10 })).length, 0);
    t.false(c.fake.received.some((m) => m.type === 'start_job'));
  }));

test('a job whose only matching supervisor is disconnected waits in the queue', (t) =>
  withSupervisor({}, async (c) => {
    const other = await c.h.addSupervisor('sup-b', 'board:z');
    const id = await c.enqueue('board:z');
    t.is((await c.h.sb.jobs.get(id))!.state, 'queued');
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
    const before = (await c.h.sb.db.events(id)).length;
    c.fake.transition(id, { state: 'ready' });
    c.fake.transition(id, { state: 'terminated' });
    await terminated(c, id);
    t.true(
      c.h.logLines.some((l) => /refused transition to ready .*terminating -> ready is not a legal transition/.test(l)),
    );
    t.false((await c.h.sb.db.events(id)).some((e) => e.state === 'ready'));
    t.is((await c.h.sb.db.events(id)).length, before + 2); // the exit status the switchboard supplied, and terminated
  }));

test('a job a supervisor ends without declaring an exit status ends WorkloadFinishedUnknown, saying so', (t) =>
  withSupervisor({}, async (c) => {
    const id = await c.started();
    c.fake.transition(id, { state: 'ready' });
    c.fake.transition(id, { state: 'terminated' });
    const job = await terminated(c, id);
    t.is(job.exit_status, 'workload_finished_unknown');
    t.is(job.exit_message, 'the supervisor ended the job without declaring an exit status');
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
    const other = await c.h.addSupervisor('sup-b', 'board:x');
    const id = await c.started();
    const fakeB = await FakeSupervisor.connect(c.h.url, other.id, other.token);
    fakeB.transition(id, { state: 'terminated' });
    c.fake.transition(id, { state: 'ready' });
    await c.h.waitJob(id, (j) => j.state === 'ready');
    t.true(c.h.logLines.some((l) => /refused state_transition from supervisor sup-b/.test(l)));
    await fakeB.close();
  }));

test('QueueTimeout ends a job no supervisor took in time', (t) => {
  const clock = new FakeClock();
  return withSupervisor({ queueTimeoutMs: 3_600_000, clock }, async (c) => {
    await c.fake.close();
    const id = await c.enqueue();
    clock.advance(3_599_999);
    t.is((await c.h.sb.jobs.get(id))!.state, 'queued');
    clock.advance(1);
    const job = await terminated(c, id);
    t.is(job.exit_status, 'queue_timeout');
  });
});

test('JobTimeout stops a job that runs too long', (t) => {
  const clock = new FakeClock();
  return withSupervisor({ jobTimeoutMs: 3_600_000, clock }, async (c) => {
    const id = await c.started();
    c.fake.transition(id, { state: 'ready' });
    await c.h.waitJob(id, (j) => j.state === 'ready');
    clock.advance(3_600_000);
    await c.fake.next('stop_job', (m) => m.message.job_id === id);
    t.is((await c.h.sb.jobs.get(id))!.exit_status, 'job_timeout');
    c.fake.transition(id, { state: 'terminating' });
    c.fake.transition(id, { state: 'terminated' });
    t.is((await terminated(c, id)).exit_status, 'job_timeout');
  });
});

test('override_timeout replaces the default job timeout', (t) => {
  const clock = new FakeClock();
  return withSupervisor({ jobTimeoutMs: 3_600_000, clock }, async (c) => {
    const id = await c.started({ override_timeout: '90s' });
    clock.advance(89_999);
    t.is((await c.h.sb.jobs.get(id))!.exit_status, null);
    clock.advance(1);
    await c.fake.next('stop_job', (m) => m.message.job_id === id);
    t.is((await c.h.sb.jobs.get(id))!.exit_status, 'job_timeout');
  });
});

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
    t.is((await c.h.sb.jobs.get(id))!.exit_status, 'workload_finished_success');
  }));

test('a supervisor that ignores stop_job loses the job after the grace period', (t) => {
  const clock = new FakeClock();
  return withSupervisor({ gracePeriodMs: 60_000, clock }, async (c) => {
    const id = await c.started();
    await c.h.api(c.h.tokens.alice, 'DELETE', `/jobs/${id}`);
    await c.fake.next('stop_job', (m) => m.message.job_id === id);
    clock.advance(59_999);
    t.is((await c.h.sb.jobs.get(id))!.state, 'scheduled');
    clock.advance(1);
    const job = await terminated(c, id);
    t.is(job.exit_status, 'job_canceled');
    t.like((await c.h.api(c.h.tokens.alice, 'GET', `/supervisors/${c.sup.id}/status`)).json.status, {
      status: 'busy',
      job_id: id,
      job_state: { state: 'terminating' },
    });
  });
});

test('a supervisor that stays away past the grace period loses its job: SupervisorDroppedJob', (t) => {
  const clock = new FakeClock();
  return withSupervisor({ gracePeriodMs: 60_000, jobTimeoutMs: 3_600_000, clock }, async (c) => {
    const id = await c.started();
    c.fake.transition(id, { state: 'ready' });
    await c.h.waitJob(id, (j) => j.state === 'ready');
    await c.fake.close();
    while (c.h.sb.scheduler.supervisorLoad(c.sup.id).connected) await new Promise((r) => setTimeout(r, 5));
    clock.advance(59_999);
    t.is((await c.h.sb.jobs.get(id))!.state, 'ready');
    clock.advance(1);
    const job = await terminated(c, id);
    t.is(job.exit_status, 'supervisor_dropped_job');
  });
});

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
    t.is((await c.h.sb.jobs.get(id))!.state, 'queued');
    back.transition(stray, { state: 'terminated' });
    await back.next('start_job', (m) => m.message.job_id === id);
    await back.close();
  }));

test('a second connection for a supervisor id whose connection is alive is refused with 409, and the first keeps working', (t) =>
  withSupervisor({}, async (c) => {
    const err = (await t.throwsAsync(FakeSupervisor.connect(c.h.url, c.sup.id, c.sup.token))) as Error & {
      body: string;
    };
    t.is(err.message, 'HTTP 409');
    t.regex(
      JSON.parse(err.body).error.message,
      /already connected from 127\.0\.0\.1:\d+: another tml-supervisor instance holds this id/,
    );
    t.true(
      c.h.logLines.some((l) => /warn +refused a supervisor connection from .*another tml-supervisor instance/.test(l)),
    );
    t.is(c.fake.ws.readyState, WebSocket.OPEN);
    const id = await c.enqueue();
    await c.fake.next('start_job', (m) => m.message.job_id === id);
  }));

test('a new connection replaces one that answers no ping, which is closed with 4003 (superseded)', (t) =>
  withSupervisor({}, async (c) => {
    await c.fake.close();
    const mute = await FakeSupervisor.connect(c.h.url, c.sup.id, c.sup.token, { type: 'idle' }, { answerPings: false });
    const closed = new Promise<number>((resolve) => mute.ws.once('close', (code) => resolve(code)));
    const second = await FakeSupervisor.connect(c.h.url, c.sup.id, c.sup.token);
    t.is(await closed, 4003);
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

test('a supervisor with a wrong token is refused with 403, as upstream does, code wrong_token', (t) =>
  withSupervisor({}, async (c) => {
    const err = (await t.throwsAsync(FakeSupervisor.connect(c.h.url, c.sup.id, 'wrong-token'))) as Error & {
      body: string;
    };
    t.is(err.message, 'HTTP 403');
    t.is(JSON.parse(err.body).error.code, 'wrong_token');
  }));

test('a supervisor id the switchboard does not know is refused with 404 naming the id', (t) =>
  withSupervisor({}, async (c) => {
    const unknown = '0e0e0e0e-1111-4222-8333-444444444444';
    const err = (await t.throwsAsync(FakeSupervisor.connect(c.h.url, unknown, c.sup.token))) as Error & {
      body: string;
    };
    t.is(err.message, 'HTTP 404');
    t.is(JSON.parse(err.body).error.code, 'unknown_supervisor');
    t.regex(JSON.parse(err.body).error.message, new RegExp(`no supervisor with id ${unknown} is registered`));
  }));

test('a plain GET of /connect is 401 without a token and 426 upgrade_required with a user token, as documented', (t) =>
  withSupervisor({}, async (c) => {
    const path = `/supervisors/${c.sup.id}/connect`;
    const anonymous = await c.h.api(null, 'GET', path);
    t.is(anonymous.status, 401);
    t.is(anonymous.json.type, 'unauthenticated');
    const user = await c.h.api(c.h.tokens.alice, 'GET', path);
    t.is(user.status, 426);
    t.is(user.json.type, 'upgrade_required');
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
  withSupervisor({ pingIntervalMs: 200, keepaliveMs: 600, gracePeriodMs: 200 }, async (c) => {
    await c.fake.close();
    const id = await c.enqueue();
    const mute = await FakeSupervisor.connect(c.h.url, c.sup.id, c.sup.token);
    const closed = new Promise<void>((resolve) => mute.ws.once('close', () => resolve()));
    await mute.next('start_job', (m) => m.message.job_id === id);
    // It falls silent once it has the job.
    mute.answerPings = false;
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
      (await c.h.sb.db.events(id)).filter((e) => e.kind === 'state').map((e) => e.state),
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

// -- an upstream supervisor, played from upstream's facts (ws_connector and serde's JSON), not our encoder --

interface UpstreamPeer {
  ws: WebSocket;
  /** The tml-socket-config header of the 101 answer. */
  socketConfig: string | undefined;
  texts: string[];
  nextText(pred: (msg: any) => boolean): Promise<any>;
  send(text: string): void;
}

/** `idle`: answers every status request from its last reported state, idle here, as upstream's connector does. */
function upstreamPeer(url: string, id: string, token: string, opts: { idle?: boolean } = {}): Promise<UpstreamPeer> {
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/api/v1/supervisors/${id}/connect`, 'treadmillv1', {
    headers: { authorization: `Bearer ${token}` },
  });
  const texts: string[] = [];
  const waiters: Array<{ pred: (m: any) => boolean; resolve: (m: any) => void }> = [];
  ws.on('message', (data) => {
    const text = data.toString();
    texts.push(text);
    const msg = JSON.parse(text);
    if (opts.idle && msg.type === 'status_request') {
      ws.send(
        `{"type":"status_response","message":{"response_to_request_id":"${msg.message.request_id}","message":{"type":"idle"}}}`,
      );
    }
    for (const w of waiters.splice(0)) {
      if (w.pred(msg)) w.resolve(msg);
      else waiters.push(w);
    }
  });
  let socketConfig: string | undefined;
  ws.once('upgrade', (res) => (socketConfig = res.headers['tml-socket-config'] as string | undefined));
  return new Promise((resolve, reject) => {
    ws.once('open', () =>
      resolve({
        ws,
        get socketConfig() {
          return socketConfig;
        },
        texts,
        nextText: (pred) => {
          const seen = texts.map((t) => JSON.parse(t)).find(pred);
          return seen ? Promise.resolve(seen) : new Promise((r) => waiters.push({ pred, resolve: r }));
        },
        send: (text) => ws.send(text),
      }),
    );
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.once('error', reject);
  });
}

const jobEvent = (jobId: string, event: string) =>
  `{"type":"supervisor_event","message":{"type":"job_event","job_id":"${jobId}","event":${event}}}`;

test("an upstream supervisor's handshake reads tml-socket-config with upstream's default keepalive", async (t) => {
  const h = await startHarness({ pingIntervalMs: undefined, keepaliveMs: undefined });
  t.teardown(() => h.close());
  const sup = await h.addSupervisor('up-1', 'board:x');
  const peer = await upstreamPeer(h.url, sup.id, sup.token);
  t.teardown(() => peer.ws.terminate());
  t.is(peer.socketConfig, '{"keepalive":{"ping_interval":"2s","keepalive":"10s"}}');
  t.is(peer.ws.protocol, 'treadmillv1');
});

test('the keepalive in tml-socket-config follows the configured one, and pings come every ping_interval', async (t) => {
  const h = await startHarness({ pingIntervalMs: 100, keepaliveMs: 1500 });
  t.teardown(() => h.close());
  const sup = await h.addSupervisor('up-1', 'board:x');
  const peer = await upstreamPeer(h.url, sup.id, sup.token);
  t.teardown(() => peer.ws.terminate());
  t.is(peer.socketConfig, '{"keepalive":{"ping_interval":"100ms","keepalive":"1500ms"}}');
  const at: number[] = [];
  await new Promise<void>((resolve) =>
    peer.ws.on('ping', () => {
      if (at.push(Date.now()) === 4) resolve();
    }),
  );
  // Three intervals of 100 ms (timers may fire a little late under load, never early).
  t.true(at[3]! - at[0]! >= 290, `pings at ${at.map((x) => x - at[0]!).join(', ')} ms`);
});

test("start_job carries every key a late-2024 supervisor requires, ssh_rendezvous_servers included, in serde's order", (t) =>
  withSupervisor({}, async (c) => {
    const id = await c.enqueue('board:x', {
      ssh_keys: ['ssh-ed25519 AAAAkey me'],
      parameters: { greeting: { value: 'hi', secret: false } },
    });
    await c.fake.next('start_job', (m) => m.message.job_id === id);
    const raw = c.fake.raw.find((r) => r.includes('"start_job"'))!;
    t.is(
      raw,
      `{"type":"start_job","message":{"job_id":"${id}","image_spec":{"type":"image","image_id":"${'ab'.repeat(32)}"},` +
        `"ssh_keys":["ssh-ed25519 AAAAkey me"],"restart_policy":{"remaining_restart_count":0},` +
        `"ssh_rendezvous_servers":[],"parameters":{"greeting":{"value":"hi","secret":false}}}}`,
    );
  }));

test('stop_job and status_request are exactly the JSON upstream supervisors parse', (t) =>
  withSupervisor({}, async (c) => {
    const id = await c.started();
    await c.h.api(c.h.tokens.alice, 'DELETE', `/jobs/${id}`);
    await c.fake.next('stop_job');
    t.true(c.fake.raw.includes(`{"type":"stop_job","message":{"job_id":"${id}"}}`));
    t.regex(c.fake.raw[0]!, /^\{"type":"status_request","message":\{"request_id":"[0-9a-f-]{36}","message":null\}\}$/);
  }));

const FAILING_KINDS: Array<[string, string]> = [
  ['ImageNotFound', 'supervisor_host_start_failure'],
  ['ImageInvalid', 'supervisor_host_start_failure'],
  ['ImageNotCompatible', 'supervisor_host_start_failure'],
  ['InternalError', 'internal_supervisor_error'],
  ['JobAlreadyExists', 'internal_supervisor_error'],
  ['CannotResume', 'internal_supervisor_error'],
  ['JobNotFound', 'internal_supervisor_error'],
  ['MaxConcurrentJobs', 'internal_supervisor_error'],
];

for (const [kind, status] of FAILING_KINDS) {
  test(`an upstream supervisor's ${kind} error ends its starting job at once with ${status}`, async (t) => {
    const h = await startHarness();
    t.teardown(() => h.close());
    const sup = await h.addSupervisor('up-1', 'board:x');
    const peer = await upstreamPeer(h.url, sup.id, sup.token, { idle: true });
    t.teardown(() => peer.ws.terminate());
    const r = await h.api(h.tokens.alice, 'POST', '/jobs/new', jobRequest({ tag_config: 'board:x' }));
    const id = r.json.job_id as string;
    await peer.nextText((m) => m.type === 'start_job');
    peer.send(
      jobEvent(
        id,
        '{"type":"state_transition","new_state":{"state":"initializing","stage":"starting"},"status_message":null}',
      ),
    );
    // Upstream's connector reports the error and then nothing more for this job.
    peer.send(jobEvent(id, `{"type":"error","error":{"error_kind":"${kind}","description":"it went wrong"}}`));
    const job = await h.waitJob(id, (j) => j.state === 'terminated');
    t.is(job.exit_status as string, status);
    t.is(job.exit_message, `${kind}: it went wrong`);
    // It is asked whether it is free, and once it says idle it gets the next job.
    const next = (await h.api(h.tokens.alice, 'POST', '/jobs/new', jobRequest({ tag_config: 'board:x' }))).json
      .job_id as string;
    await peer.nextText((m) => m.type === 'start_job' && m.message.job_id === next);
  });
}

test("an upstream supervisor's AlreadyRunning for a running job leaves the job running", (t) =>
  withSupervisor({}, async (c) => {
    const id = await c.started();
    c.fake.transition(id, { state: 'ready' });
    await c.h.waitJob(id, (j) => j.state === 'ready');
    c.fake.ws.send(jobEvent(id, '{"type":"error","error":{"error_kind":"AlreadyRunning","description":"again"}}'));
    c.fake.declare(id, 'success');
    c.fake.transition(id, { state: 'terminated' });
    t.is((await terminated(c, id)).exit_status, 'workload_finished_success');
  }));

test('an error event of a kind upstream does not have is refused at the edge', (t) =>
  withSupervisor({}, async (c) => {
    const id = await c.started();
    c.fake.ws.send(jobEvent(id, '{"type":"error","error":{"error_kind":"DiskOnFire","description":"x"}}'));
    c.fake.ws.send(jobEvent(id, '{"type":"error","error":{"kind":"internal","message":"our old shape"}}'));
    c.fake.transition(id, { state: 'ready' });
    await c.h.waitJob(id, (j) => j.state === 'ready');
    t.is(
      c.h.logLines.filter((l) => /refused malformed message: event\.error\.error_kind must be one of/.test(l)).length,
      2,
    );
    t.is((await c.h.sb.jobs.get(id))!.exit_status, null);
  }));

test('an error for a ready job sets its exit status and ends it once the supervisor reports idle', async (t) => {
  const h = await startHarness();
  t.teardown(() => h.close());
  const sup = await h.addSupervisor('up-1', 'board:x');
  const peer = await upstreamPeer(h.url, sup.id, sup.token, { idle: true });
  t.teardown(() => peer.ws.terminate());
  const id = (await h.api(h.tokens.alice, 'POST', '/jobs/new', jobRequest({ tag_config: 'board:x' }))).json
    .job_id as string;
  await peer.nextText((m) => m.type === 'start_job');
  peer.send(jobEvent(id, '{"type":"state_transition","new_state":{"state":"ready"},"status_message":null}'));
  await h.waitJob(id, (j) => j.state === 'ready');
  peer.send(jobEvent(id, '{"type":"error","error":{"error_kind":"InternalError","description":"qemu died"}}'));
  const job = await h.waitJob(id, (j) => j.state === 'terminated');
  t.is(job.exit_status, 'internal_supervisor_error');
});

// -- the upgrade itself --

function rawUpgrade(url: string, path: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}${path}`, {
      headers: {
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-version': '13',
        'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
        'sec-websocket-protocol': 'treadmillv1',
        ...headers,
      },
    });
    req.on('response', (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

for (const path of ['/api/v1/supervisors/%/connect', '/api/v1/supervisors/%E0%A4%A/connect']) {
  test(`an upgrade of ${path} (a malformed %-escape) is answered 400 and the switchboard keeps serving`, (t) =>
    withSupervisor({}, async (c) => {
      t.is(await rawUpgrade(c.h.url, path, { authorization: `Bearer ${c.sup.token}` }), 400);
      t.is(await rawUpgrade(c.h.url, `/api/v1/supervisors/not-a-uuid/connect`, { authorization: 'Bearer x' }), 400);
      const r = await fetch(`${c.h.url}/api/v1/supervisors`, {
        headers: { authorization: `Bearer ${c.h.tokens.alice}` },
      });
      t.is(r.status, 200);
    }));
}

test('an upgrade without an Authorization header is refused with 401, though supervisor ids are listed to every user', (t) =>
  withSupervisor({}, async (c) => {
    const listed = await c.h.api(c.h.tokens.bob, 'GET', '/supervisors');
    t.true(JSON.stringify(listed.json).includes(c.sup.id));
    t.is(await rawUpgrade(c.h.url, `/api/v1/supervisors/${c.sup.id}/connect`, {}), 401);
    t.is(await rawUpgrade(c.h.url, `/api/v1/supervisors/${c.sup.id}/connect`, { authorization: 'Basic eDp5' }), 401);
  }));

test('an upgrade of another path is answered 404', (t) =>
  withSupervisor({}, async (c) => {
    t.is(await rawUpgrade(c.h.url, '/api/v1/jobs', { authorization: `Bearer ${c.sup.token}` }), 404);
  }));

// -- registering an upstream supervisor under its own id and token --

test('supervisor add --id --token-file registers an existing id and token, and a connection with that token is accepted', async (t) => {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const db = join(dir, 'sb.sqlite');
  const id = '7d55ec6d-15e7-4b84-8c04-7c085fe60df4';
  const token = randomBytes(128).toString('base64');
  // Whitespace around it is dropped, and the padding may be missing, as upstream reads token_file.
  writeFileSync(join(dir, 'token'), `  ${token.replace(/=+$/, '')}\n`);
  const out = adminOk([
    'supervisor',
    'add',
    'qemu-1',
    '--db',
    db,
    '--tags',
    'board:x',
    '--id',
    id.toUpperCase(),
    '--token-file',
    join(dir, 'token'),
    '--json',
  ]);
  t.deepEqual(JSON.parse(out), { id });
  const sb = await serve(db);
  t.teardown(async () => {
    sb.child.kill('SIGTERM');
    await sb.exited;
  });
  const peer = await upstreamPeer(sb.url, id, token);
  t.is(peer.socketConfig, '{"keepalive":{"ping_interval":"2s","keepalive":"10s"}}');
  peer.ws.terminate();
  await t.throwsAsync(upstreamPeer(sb.url, id, randomBytes(128).toString('base64')), { message: 'HTTP 403' });
});

const ADD_FAILURES: Array<[string, string[], RegExp]> = [
  ['an id that is not a UUID', ['--id', 'rack-1'], /^tml-switchboard: --id: "rack-1" is not a UUID\n$/],
  [
    'a token file that does not hold a 128-byte token',
    ['--token-file', '__short__'],
    /does not hold a supervisor token \(standard base64 of 128 bytes\)/,
  ],
  [
    'a token file that cannot be read',
    ['--token-file', '/nonexistent/token'],
    /--token-file: cannot read \/nonexistent\/token: ENOENT/,
  ],
  ['a tag with a space', ['--tags', 'board:x;site lab'], /--tags: "site lab" is not a tag/],
];

for (const [what, args, message] of ADD_FAILURES) {
  test(`supervisor add refuses ${what} (exit 2)`, (t) => {
    const { dir, cleanup } = tempDir();
    t.teardown(cleanup);
    writeFileSync(join(dir, 'short'), Buffer.alloc(32).toString('base64'));
    const base = args.includes('--tags') ? [] : ['--tags', 'board:x'];
    const argv = ['supervisor', 'add', 'qemu-1', '--db', join(dir, 'sb.sqlite'), ...base, ...args].map((a) =>
      a === '__short__' ? join(dir, 'short') : a,
    );
    const r = admin(argv);
    t.is(r.status, 2);
    t.regex(r.stderr, message);
  });
}

test('supervisor add refuses an id that is already registered (exit 1)', (t) => {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const db = join(dir, 'sb.sqlite');
  const id = '7d55ec6d-15e7-4b84-8c04-7c085fe60df4';
  adminOk(['supervisor', 'add', 'a', '--db', db, '--tags', 'x', '--id', id]);
  const r = admin(['supervisor', 'add', 'b', '--db', db, '--tags', 'x', '--id', id]);
  t.is(r.status, 1);
  t.regex(r.stderr, new RegExp(`a supervisor with id ${id} already exists`));
});

test('supervisor add without --id and --token-file generates both', (t) => {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const out = JSON.parse(adminOk(['supervisor', 'add', 'a', '--db', join(dir, 'sb.sqlite'), '--tags', 'x', '--json']));
  t.regex(out.id, /^[0-9a-f-]{36}$/);
  t.is(typeof out.token, 'string');
});

test('after an error ends a starting job, a supervisor still tearing it down gets no new job until it reports terminated', (t) =>
  withSupervisor({}, async (c) => {
    const id = await c.started();
    c.fake.status = { type: 'ongoing_job', job_id: id, job_state: { state: 'initializing', stage: 'fetching_image' } };
    const before = c.fake.received.filter((m) => m.type === 'status_request').length;
    c.fake.event(id, { type: 'error', error: { error_kind: 'ImageNotFound', description: 'no such image' } });
    t.is((await terminated(c, id)).exit_status, 'supervisor_host_start_failure');
    await c.fake.next('stop_job', (m) => m.message.job_id === id);
    t.is(c.fake.received.filter((m) => m.type === 'status_request').length, before + 1);
    const next = await c.enqueue();
    await new Promise((r) => setTimeout(r, 100));
    t.is((await c.h.sb.jobs.get(next))!.state, 'queued');
    c.fake.transition(id, { state: 'terminated' });
    await c.fake.next('start_job', (m) => m.message.job_id === next);
  }));

test('any connect path gives a supervisor id, no id, or a refusal; never another exception', (t) => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.string(),
        fc.string().map((s) => `/api/v1/supervisors/${s}/connect`),
        fc.stringMatching(/^[%0-9A-Fa-f-]{0,40}$/).map((s) => `/api/v1/supervisors/${s}/connect?x=1`),
      ),
      (path) => {
        try {
          const id = connectPathId(path);
          if (id !== null && !/^[0-9a-f-]{36}$/.test(id)) throw new Error(`bad id ${id}`);
        } catch (err) {
          if ((err as { code?: unknown }).code !== 'bad_request') throw err;
        }
      },
    ),
    { numRuns: 2000 },
  );
  t.pass();
});
