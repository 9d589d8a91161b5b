// Upstream's `tml` 0.3 against our switchboard: the REST calls it makes, with the bodies it sends
// byte for byte (serde_json of its types, reqwest's `.json()`), and its way of reading the answers
// (upstream-serde.ts, from treadmill-rs 0.3.0). Nothing here uses our encoder or our client.

import test from 'ava';
import { hashPassword } from '../../switchboard/auth.js';
import { FakeSupervisor, IMAGE_ID, startHarness, type Harness } from '../switchboard/harness.js';
import {
  JobStatusResponse,
  ListJobsResponse,
  ListSupervisorsResponse,
  LoginResponse,
  SerdeError,
  StopResponse,
  SubmitResponse,
  SupervisorStatus,
  SupervisorStatusResponse,
  check,
  type Schema,
} from './upstream-serde.js';

// The key upstream's tml generates and adds to every job unless --disable-internal-ssh-key.
const TML_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGq0H8yJ0Yk2Dq5QxK5vJ0m7yqGZ2v8b1y4m3c0nVdEd';

interface Ctx {
  h: Harness;
  fake: FakeSupervisor;
  supervisorId: string;
  /** A request as reqwest sends it: `.bearer_auth(token)` and, with a body, `.json(&value)`. */
  call(method: string, path: string, body?: string, token?: string): Promise<{ status: number; json: unknown }>;
}

async function withUpstreamTml(fn: (c: Ctx) => Promise<void>): Promise<void> {
  const h = await startHarness();
  const sup = await h.addSupervisor('rpi-1', 'board:nrf52840dk');
  const fake = await FakeSupervisor.connect(h.url, sup.id, sup.token);
  const call: Ctx['call'] = async (method, path, body, token = h.tokens.alice) => {
    const res = await fetch(`${h.url}/api/v1${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body,
    });
    const text = await res.text();
    let json: unknown = undefined;
    try {
      json = JSON.parse(text);
    } catch {
      // upstream's tml prints a non-success body as text
    }
    return { status: res.status, json };
  };
  try {
    await fn({ h, fake, supervisorId: sup.id, call });
  } finally {
    await fake.close();
    await h.close();
  }
}

/** `tml job enqueue IMAGE --tag-config board:nrf52840dk [--timeout SECONDS] [--parameters P]`. */
function enqueueBody(overrideTimeout: string | null, parameters = '{}', tags = 'board:nrf52840dk'): string {
  return (
    `{"init_spec":{"type":"image","image_id":"${IMAGE_ID}"},"ssh_keys":["${TML_KEY}"],` +
    `"restart_policy":{"remaining_restart_count":0},"parameters":${parameters},"tag_config":"${tags}",` +
    `"override_timeout":${overrideTimeout === null ? 'null' : `"${overrideTimeout}"`}}`
  );
}

function parses(
  t: { notThrows: (fn: () => void, msg?: string) => void },
  schema: Schema,
  value: unknown,
  what: string,
) {
  t.notThrows(() => check(schema, value), what);
}

test('the serde model refuses what upstream would: our 2024 shapes do not parse', (t) => {
  t.throws(() => check(ListJobsResponse, []), { instanceOf: SerdeError });
  t.throws(
    () => check(JobStatusResponse, { type: 'ok', job_status: { state: 'ready', as_of: '2025-01-01T00:00:00Z' } }),
    {
      instanceOf: SerdeError,
    },
  );
  t.throws(() => check(LoginResponse, { token: 'x'.repeat(43), expires_at: '2025-01-01T00:00:00Z' }), {
    instanceOf: SerdeError,
  });
  t.throws(() => check(SupervisorStatus, { id: 'x', status: 'lazy' }), { instanceOf: SerdeError });
});

test('tml login: user_identifier and password, answered with a 128-byte token it can use', (t) =>
  withUpstreamTml(async (c) => {
    await c.h.sb.db.addUser('carol', hashPassword('pa55'), false, 'carol@example.org');
    for (const who of ['carol', 'carol@example.org']) {
      const r = await c.call('POST', '/tokens/login', `{"user_identifier":"${who}","password":"pa55"}`);
      t.is(r.status, 200);
      parses(t, LoginResponse, r.json, who);
      // get_token(): the stored token, decoded and encoded again for HTTP.
      const token = Buffer.from((r.json as { token: string }).token, 'base64').toString('base64');
      t.is((await c.call('GET', '/jobs', undefined, token)).status, 200);
    }
    const bad = await c.call('POST', '/tokens/login', '{"user_identifier":"carol","password":"nope"}');
    t.is(bad.status, 403);
  }));

test('tml job enqueue: its body is accepted and --timeout 90 ("1m 30s") is 90 seconds', (t) =>
  withUpstreamTml(async (c) => {
    const r = await c.call(
      'POST',
      '/jobs/new',
      enqueueBody('1m 30s', '{"gh-actions-runner-encoded-jit-config":{"value":"jit","secret":true}}'),
    );
    t.is(r.status, 200);
    parses(t, SubmitResponse, r.json, 'submit answer');
    const id = (r.json as { job_id: string }).job_id;
    const req = await c.h.sb.jobs.request((await c.h.sb.jobs.get(id))!);
    t.is(req.override_timeout, 90);
    t.deepEqual(req.ssh_keys, [TML_KEY]);
    const start = await c.fake.next('start_job', (m) => m.message.job_id === id);
    t.deepEqual(start.message.parameters, { 'gh-actions-runner-encoded-jit-config': { value: 'jit', secret: true } });
  }));

for (const [seconds, sent] of [
  [3600, '1h'],
  [86_400 + 3600 + 60 + 1, '1d 1h 1m 1s'],
  [604_800, '1w'],
] as const) {
  test(`tml job enqueue --timeout ${seconds} (fundu writes "${sent}") is ${seconds} seconds`, (t) =>
    withUpstreamTml(async (c) => {
      const r = await c.call('POST', '/jobs/new', enqueueBody(sent));
      t.is(r.status, 200);
      t.is(
        (await c.h.sb.jobs.request((await c.h.sb.jobs.get((r.json as { job_id: string }).job_id))!)).override_timeout,
        seconds,
      );
    }));
}

test('tml job enqueue for tags no supervisor has: 404 supervisor_match_error, nothing created', (t) =>
  withUpstreamTml(async (c) => {
    const r = await c.call('POST', '/jobs/new', enqueueBody(null, '{}', 'board:none'));
    t.is(r.status, 404);
    parses(t, SubmitResponse, r.json, 'match error');
    t.is((r.json as { type: string }).type, 'supervisor_match_error');
    t.is((await c.h.sb.db.jobPage({ limit: 10 })).length, 0);
  }));

test('tml job status and tml job list read every state, with dispatched_to_supervisor where list unwraps it', (t) =>
  withUpstreamTml(async (c) => {
    const id = ((await c.call('POST', '/jobs/new', enqueueBody(null))).json as { job_id: string }).job_id;
    await c.fake.next('start_job', (m) => m.message.job_id === id);
    const seen: string[] = [];
    const look = async () => {
      const s = await c.call('GET', `/jobs/${id}/status`);
      t.is(s.status, 200);
      parses(t, JobStatusResponse, s.json, 'status');
      const l = await c.call('GET', '/jobs');
      parses(t, ListJobsResponse, l.json, 'list');
      const entry = (l.json as { jobs: Record<string, { state: Record<string, unknown> }> }).jobs[id]!;
      const type = entry.state.type as string;
      seen.push(type);
      // list_jobs() calls .unwrap() on it in these states.
      if (['scheduled', 'initializing', 'ready', 'terminating'].includes(type)) {
        t.is(entry.state.dispatched_to_supervisor, c.supervisorId);
      }
      // get_job_ssh_user_endpoints() reads these, defaulting a missing list to empty.
      t.true('ssh_user' in entry.state && 'ssh_endpoints' in entry.state);
      return entry;
    };
    await look();
    c.fake.transition(id, { state: 'initializing', stage: 'booting' });
    await c.h.waitJob(id, (j) => j.state === 'initializing');
    await look();
    c.fake.transition(id, { state: 'ready' });
    await c.h.waitJob(id, (j) => j.state === 'ready');
    await look();
    c.fake.declare(id, 'success', 'all good');
    c.fake.transition(id, { state: 'terminated' });
    await c.h.waitJob(id, (j) => j.state === 'terminated');
    const last = await look();
    t.deepEqual(seen, ['scheduled', 'initializing', 'ready', 'terminated']);
    t.like(last.state, {
      result: {
        job_id: id,
        supervisor_id: c.supervisorId,
        exit_status: 'workload_finished_success',
        host_output: 'all good',
      },
    });
  }));

test('tml job status of an unknown job: 404, read as the invalid variant', (t) =>
  withUpstreamTml(async (c) => {
    const r = await c.call('GET', '/jobs/00000000-0000-4000-8000-000000000000/status');
    t.is(r.status, 404);
    parses(t, JobStatusResponse, r.json, 'invalid');
    t.is((r.json as { type: string }).type, 'invalid');
  }));

test('tml job cancel: DELETE answers ok', (t) =>
  withUpstreamTml(async (c) => {
    const id = ((await c.call('POST', '/jobs/new', enqueueBody(null))).json as { job_id: string }).job_id;
    const r = await c.call('DELETE', `/jobs/${id}`);
    t.is(r.status, 200);
    parses(t, StopResponse, r.json, 'stop');
    t.is((await c.h.sb.jobs.get(id))!.exit_status, 'job_canceled');
  }));

test('tml supervisor list reads idle, busy and disconnected supervisors', (t) =>
  withUpstreamTml(async (c) => {
    const off = await c.h.addSupervisor('rpi-2', 'board:other');
    const list = async () => {
      const r = await c.call('GET', '/supervisors');
      t.is(r.status, 200);
      parses(t, ListSupervisorsResponse, r.json, 'supervisors');
      return (r.json as { supervisors: Record<string, { status: string }> }).supervisors;
    };
    t.is((await list())[c.supervisorId]!.status, 'idle');
    t.is((await list())[off.id]!.status, 'disconnected');
    const id = ((await c.call('POST', '/jobs/new', enqueueBody(null))).json as { job_id: string }).job_id;
    await c.fake.next('start_job', (m) => m.message.job_id === id);
    t.like((await list())[c.supervisorId], { status: 'busy', job_id: id });
  }));

test('GET /supervisors/:id/status answers as upstream switchboard does (its tml 0.3 misreads that)', (t) =>
  withUpstreamTml(async (c) => {
    const r = await c.call('GET', `/supervisors/${c.supervisorId}/status`);
    t.is(r.status, 200);
    parses(t, SupervisorStatusResponse, r.json, 'supervisor status');
    // tml 0.3's get_supervisor_status() reads the body as a bare SupervisorStatus; upstream's own
    // switchboard sends the tagged answer too, so that command fails against both alike.
    t.throws(() => check(SupervisorStatus, r.json), { instanceOf: SerdeError });
  }));
