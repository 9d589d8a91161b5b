// Golden bodies of the REST API: every request `tml` sends and every answer the switchboard gives,
// with their exact key sets (and key order). Ids and times are replaced by placeholders first.

import test from 'ava';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { hashPassword } from '../../switchboard/auth.js';
import { FakeSupervisor, IMAGE_ID, jobRequest, startHarness, type Harness } from './harness.js';
import { tml } from './process.js';

const TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

/** Replaces the given ids by their names, other times by "<time>" and tokens by "<token>". */
function normalize(value: unknown, names: Record<string, string>): unknown {
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') {
      if (names[v] !== undefined) return names[v];
      if (TIME.test(v)) return '<time>';
      if (/^[A-Za-z0-9+/]{171}=$/.test(v)) return '<token>';
      return v;
    }
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === 'object') {
      return Object.fromEntries(Object.entries(v).map(([k, e]) => [names[k] ?? k, walk(e)]));
    }
    return v;
  };
  return walk(value);
}

/** Deep equality including the order of keys, so the golden shows the answer as it goes out. */
function same(t: { deepEqual: (a: unknown, b: unknown, m?: string) => void }, actual: unknown, golden: unknown) {
  t.deepEqual(JSON.stringify(actual, null, 1), JSON.stringify(golden, null, 1));
}

interface Ctx {
  h: Harness;
  fake: FakeSupervisor;
  /** Registered with tags board:y and never connected. */
  offline: string;
  names: Record<string, string>;
  get(path: string, token?: string | null): Promise<{ status: number; body: unknown }>;
  send(method: string, path: string, body: unknown, token?: string | null): Promise<{ status: number; body: unknown }>;
}

async function withSwitchboard(fn: (c: Ctx) => Promise<void>): Promise<void> {
  const h = await startHarness();
  const sup = await h.addSupervisor('rpi-1', 'board:x;site:lab');
  const offline = (await h.addSupervisor('rpi-2', 'board:y')).id;
  const fake = await FakeSupervisor.connect(h.url, sup.id, sup.token);
  const names: Record<string, string> = { [sup.id]: '<supervisor>', [offline]: '<offline>', [IMAGE_ID]: '<image>' };
  const send: Ctx['send'] = async (method, path, body, token = h.tokens.alice) => {
    const r = await h.api(token, method, path, body);
    return { status: r.status, body: normalize(r.json, names) };
  };
  try {
    await fn({ h, fake, offline, names, send, get: (path, token) => send('GET', path, undefined, token) });
  } finally {
    await fake.close();
    await h.close();
  }
}

async function newJob(c: Ctx, name: string, overrides = {}): Promise<string> {
  const r = await c.h.api(c.h.tokens.alice, 'POST', '/jobs/new', jobRequest({ tag_config: 'board:x', ...overrides }));
  if (r.status !== 200) throw new Error(r.text);
  c.names[r.json.job_id] = name;
  return r.json.job_id;
}

const NO_SSH = { ssh_endpoints: null, ssh_user: null, ssh_host_keys: null };

/** Our extension keys of a job that is still queued with tags board:y and a 10 minute timeout. */
const QUEUED_EXTENSIONS = {
  job_id: '<job>',
  owner: 'alice',
  status_message: null,
  exit_status: null,
  exit_message: null,
  supervisor_name: null,
  tag_config: 'board:y',
  init_spec: { type: 'image', image_id: '<image>' },
  restart_of: null,
  timeout_seconds: 600,
  queued_at: '<time>',
  scheduled_at: null,
  updated_at: '<time>',
  terminated_at: null,
  log_bytes: 0,
};

test('golden: POST /tokens/login', (t) =>
  withSwitchboard(async (c) => {
    await c.h.sb.db.addUser('carol', hashPassword('pw'), false, 'carol@example.org');
    const ok = await c.send('POST', '/tokens/login', { user_identifier: 'carol', password: 'pw' }, null);
    t.is(ok.status, 200);
    same(t, ok.body, { token: '<token>', expires_at: '<time>' });
    const bad = await c.send('POST', '/tokens/login', { user_identifier: 'carol', password: 'no' }, null);
    t.is(bad.status, 403);
    same(t, bad.body, { type: 'unauthorized', message: 'wrong user name, e-mail address or password' });
  }));

test('golden: POST /jobs/new', (t) =>
  withSwitchboard(async (c) => {
    const ok = await c.h.api(c.h.tokens.alice, 'POST', '/jobs/new', jobRequest({ tag_config: 'board:y' }));
    c.names[ok.json.job_id] = '<job>';
    t.is(ok.status, 200);
    same(t, normalize(ok.json, c.names), { type: 'ok', job_id: '<job>' });
    const none = await c.send('POST', '/jobs/new', jobRequest({ tag_config: 'board:none' }));
    t.is(none.status, 404);
    same(t, none.body, {
      type: 'supervisor_match_error',
      message: 'no registered supervisor has all of the tags "board:none"',
    });
  }));

test('golden: GET /jobs/:id/status of a queued job, with parameters masked', (t) =>
  withSwitchboard(async (c) => {
    const id = await newJob(c, '<job>', {
      tag_config: 'board:y',
      override_timeout: '10m',
      parameters: { plain: { value: 'v', secret: false }, key: { value: 's3cr3t', secret: true } },
      ssh_keys: ['ssh-ed25519 AAAA me'],
    });
    const r = await c.get(`/jobs/${id}/status`);
    t.is(r.status, 200);
    same(t, r.body, {
      type: 'ok',
      job_status: {
        state: { type: 'queued', dispatched_to_supervisor: null, ...NO_SSH, result: null },
        as_of: '<time>',
        ...QUEUED_EXTENSIONS,
        parameters: { plain: { secret: false, value: 'v' }, key: { secret: true } },
        ssh_keys: ['ssh-ed25519 AAAA me'],
      },
    });
  }));

test('golden: GET /jobs/:id/status of an initializing job with a sub-state, then terminated', (t) =>
  withSwitchboard(async (c) => {
    const id = await newJob(c, '<job>');
    await c.fake.next('start_job', (m) => m.message.job_id === id);
    c.fake.transition(id, { state: 'initializing', stage: 'booting' }, 'flashing board');
    await c.h.waitJob(id, (j) => j.state === 'initializing');
    const running = {
      job_id: '<job>',
      owner: 'alice',
      status_message: 'flashing board',
      exit_status: null,
      exit_message: null,
      supervisor_name: 'rpi-1',
      tag_config: 'board:x',
      init_spec: { type: 'image', image_id: '<image>' },
      restart_of: null,
      timeout_seconds: null,
      queued_at: '<time>',
      scheduled_at: '<time>',
      updated_at: '<time>',
      terminated_at: null,
      log_bytes: 0,
      parameters: {},
      ssh_keys: [],
    };
    same(t, (await c.get(`/jobs/${id}/status`)).body, {
      type: 'ok',
      job_status: {
        state: {
          type: 'initializing',
          stage: 'booting',
          dispatched_to_supervisor: '<supervisor>',
          ...NO_SSH,
          result: null,
        },
        as_of: '<time>',
        ...running,
      },
    });
    c.fake.console(id, 'hello\n');
    c.fake.declare(id, 'success', 'all good');
    c.fake.transition(id, { state: 'terminated' });
    await c.h.waitJob(id, (j) => j.state === 'terminated');
    same(t, (await c.get(`/jobs/${id}/status`)).body, {
      type: 'ok',
      job_status: {
        state: {
          type: 'terminated',
          dispatched_to_supervisor: '<supervisor>',
          ...NO_SSH,
          result: {
            job_id: '<job>',
            supervisor_id: '<supervisor>',
            exit_status: 'workload_finished_success',
            host_output: 'all good',
            terminated_at: '<time>',
          },
        },
        as_of: '<time>',
        ...running,
        status_message: null,
        exit_status: 'workload_finished_success',
        exit_message: 'all good',
        terminated_at: '<time>',
        log_bytes: 6,
      },
    });
  }));

test('golden: GET /jobs (entries without parameters and SSH keys)', (t) =>
  withSwitchboard(async (c) => {
    await newJob(c, '<job>', { tag_config: 'board:y', override_timeout: '600' });
    same(t, (await c.get('/jobs')).body, {
      type: 'ok',
      jobs: {
        '<job>': {
          state: { type: 'queued', dispatched_to_supervisor: null, ...NO_SSH, result: null },
          as_of: '<time>',
          ...QUEUED_EXTENSIONS,
        },
      },
      next_cursor: null,
    });
  }));

test('golden: DELETE /jobs/:id', (t) =>
  withSwitchboard(async (c) => {
    const id = await newJob(c, '<job>', { tag_config: 'board:y', override_timeout: '10m' });
    const r = await c.send('DELETE', `/jobs/${id}`, undefined);
    t.is(r.status, 200);
    same(t, r.body, {
      type: 'ok',
      job_status: {
        state: {
          type: 'terminated',
          dispatched_to_supervisor: null,
          ...NO_SSH,
          result: {
            job_id: '<job>',
            supervisor_id: null,
            exit_status: 'job_canceled',
            host_output: 'canceled by alice',
            terminated_at: '<time>',
          },
        },
        as_of: '<time>',
        ...QUEUED_EXTENSIONS,
        exit_status: 'job_canceled',
        exit_message: 'canceled by alice',
        terminated_at: '<time>',
        parameters: {},
        ssh_keys: [],
      },
    });
  }));

test('golden: GET /jobs/:id/events (an extension)', (t) =>
  withSwitchboard(async (c) => {
    const id = await newJob(c, '<job>');
    await c.fake.next('start_job', (m) => m.message.job_id === id);
    c.fake.transition(id, { state: 'ready' }, 'up');
    await c.h.waitJob(id, (j) => j.state === 'ready');
    same(t, (await c.get(`/jobs/${id}/events`)).body, {
      type: 'ok',
      events: [
        {
          seq: 1,
          at: '<time>',
          kind: 'state',
          by: 'switchboard',
          state: 'queued',
          stage: null,
          status_message: null,
          exit_status: null,
        },
        {
          seq: 2,
          at: '<time>',
          kind: 'state',
          by: 'switchboard',
          state: 'scheduled',
          stage: null,
          status_message: null,
          exit_status: null,
        },
        {
          seq: 3,
          at: '<time>',
          kind: 'state',
          by: 'supervisor',
          state: 'ready',
          stage: null,
          status_message: 'up',
          exit_status: null,
        },
      ],
      next: null,
    });
  }));

test('golden: GET /supervisors and /supervisors/:id/status', (t) =>
  withSwitchboard(async (c) => {
    const idle = { status: 'idle', id: '<supervisor>', name: 'rpi-1', tags: ['board:x', 'site:lab'] };
    const offline = { status: 'disconnected', id: '<offline>', name: 'rpi-2', tags: ['board:y'] };
    same(t, (await c.get('/supervisors')).body, {
      type: 'ok',
      supervisors: { '<supervisor>': idle, '<offline>': offline },
    });
    const id = await newJob(c, '<job>');
    await c.fake.next('start_job', (m) => m.message.job_id === id);
    same(t, (await c.get(`/supervisors/${Object.keys(c.names)[0]}/status`)).body, {
      type: 'ok',
      status: {
        status: 'busy',
        job_id: '<job>',
        job_state: { state: 'initializing', stage: 'starting' },
        id: '<supervisor>',
        name: 'rpi-1',
        tags: ['board:x', 'site:lab'],
      },
    });
  }));

test('golden: error answers', (t) =>
  withSwitchboard(async (c) => {
    const cases: Array<[Promise<{ status: number; body: unknown }>, number, unknown]> = [
      [
        c.get('/jobs', null),
        401,
        { type: 'unauthenticated', message: 'missing "Authorization: Bearer <token>" header' },
      ],
      [
        c.get('/jobs', randomBytes(128).toString('base64')),
        401,
        { type: 'unauthenticated', message: 'invalid API token' },
      ],
      [
        c.get('/jobs/00000000-0000-4000-8000-000000000000/status'),
        404,
        { type: 'invalid', message: 'no job 00000000-0000-4000-8000-000000000000 visible to you' },
      ],
      [c.get('/nowhere'), 404, { type: 'not_found', message: 'no route GET /api/v1/nowhere' }],
      [
        c.send('POST', '/jobs/new', { tag_config: 'x' }),
        400,
        { type: 'bad_request', message: 'job request is missing init_spec' },
      ],
      [
        c.get(`/supervisors/${Object.keys(c.names)[0]}/connect`),
        426,
        { type: 'upgrade_required', message: 'this endpoint takes a WebSocket upgrade with subprotocol treadmillv1' },
      ],
    ];
    for (const [answer, status, golden] of cases) {
      const r = await answer;
      t.is(r.status, status);
      same(t, r.body, golden);
    }
  }));

// -- what tml sends --

interface Recorded {
  method: string;
  url: string;
  contentType: string | undefined;
  body: string;
}

/** A stand-in switchboard that records each request and answers it as an empty upstream one would. */
async function recordTml(args: string[], input?: string): Promise<{ requests: Recorded[]; status: number | null }> {
  const requests: Recorded[] = [];
  const now = new Date().toISOString();
  const job = '11111111-2222-4333-8444-555555555555';
  const answers: Record<string, unknown> = {
    'POST /api/v1/jobs/new': { type: 'ok', job_id: job },
    [`GET /api/v1/jobs/${job}/status`]: {
      type: 'ok',
      job_status: {
        state: { type: 'terminated', result: { job_id: job, exit_status: 'job_canceled', terminated_at: now } },
        as_of: now,
      },
    },
    [`DELETE /api/v1/jobs/${job}`]: { type: 'ok' },
    'GET /api/v1/jobs': { type: 'ok', jobs: {} },
    'GET /api/v1/supervisors': { type: 'ok', supervisors: {} },
    'GET /api/v1/supervisors?work=idle&conn=connected': { type: 'ok', supervisors: {} },
  };
  const server = createServer((req: IncomingMessage, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      requests.push({ method: req.method!, url: req.url!, contentType: req.headers['content-type'], body });
      const answer = answers[`${req.method} ${req.url}`];
      res.statusCode = answer ? 200 : 404;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(answer ?? { type: 'not_found', message: 'no route' }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  try {
    const r = await tml(
      args,
      {
        TML_SWITCHBOARD_URL: `http://127.0.0.1:${port}`,
        TML_API_TOKEN: randomBytes(128).toString('base64'),
      },
      { input },
    );
    return { requests, status: r.status };
  } finally {
    server.close();
  }
}

test('golden: the body of tml job enqueue, every key present, keys in upstream order', async (t) => {
  const { requests, status } = await recordTml(
    [
      'job',
      'enqueue',
      IMAGE_ID,
      '--tag-config',
      'board:x',
      '--parameters',
      '{"mode": "fast"}',
      '--parameters-file',
      '-',
      '--ssh-key',
      'ssh-ed25519 AAAA me',
      '--timeout',
      '90m',
      '--restart-count',
      '1',
    ],
    '{"jit": {"value": "s3cr3t", "secret": true}}',
  );
  t.is(status, 0);
  t.is(requests.length, 1);
  t.like(requests[0], { method: 'POST', url: '/api/v1/jobs/new', contentType: 'application/json' });
  t.is(
    requests[0]!.body,
    JSON.stringify({
      init_spec: { type: 'image', image_id: IMAGE_ID },
      ssh_keys: ['ssh-ed25519 AAAA me'],
      restart_policy: { remaining_restart_count: 1 },
      parameters: { jit: { value: 's3cr3t', secret: true }, mode: { value: 'fast', secret: false } },
      tag_config: 'board:x',
      override_timeout: '5400s',
    }),
  );
});

test('golden: a bare tml job enqueue sends empty lists, no tags and a null timeout', async (t) => {
  const { requests } = await recordTml(['job', 'enqueue', IMAGE_ID]);
  t.is(
    requests[0]!.body,
    `{"init_spec":{"type":"image","image_id":"${IMAGE_ID}"},"ssh_keys":[],"restart_policy":{"remaining_restart_count":0},"parameters":{},"tag_config":"","override_timeout":null}`,
  );
});

test('golden: the other tml commands send no body, to the routes upstream has', async (t) => {
  const job = '11111111-2222-4333-8444-555555555555';
  const cases: Array<[string[], string]> = [
    [['job', 'status', job], `GET /api/v1/jobs/${job}/status`],
    [['job', 'wait', job], `GET /api/v1/jobs/${job}/status`],
    [['job', 'cancel', job], `DELETE /api/v1/jobs/${job}`],
    [['job', 'list', '--limit', '200'], 'GET /api/v1/jobs?limit=200'],
    [['supervisor', 'list'], 'GET /api/v1/supervisors'],
    [
      ['supervisor', 'list', '--work', 'idle', '--conn', 'connected'],
      'GET /api/v1/supervisors?work=idle&conn=connected',
    ],
  ];
  for (const [args, line] of cases) {
    const { requests } = await recordTml(args);
    t.is(`${requests[0]!.method} ${requests[0]!.url}`, line, args.join(' '));
    t.is(requests[0]!.body, '');
  }
});
