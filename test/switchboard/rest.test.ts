import test from 'ava';
import { jobRequest, startHarness, type Harness } from './harness.js';

async function withHarness(fn: (h: Harness) => Promise<void>): Promise<void> {
  const h = await startHarness({}, false);
  try {
    await fn(h);
  } finally {
    await h.close();
  }
}

test('a request without a token gets 401', (t) =>
  withHarness(async (h) => {
    const r = await h.api(null, 'GET', '/jobs');
    t.is(r.status, 401);
    t.regex(r.json.error.message, /Authorization/);
  }));

test('a request with an unknown token gets 401', (t) =>
  withHarness(async (h) => {
    const r = await h.api('not-a-token', 'GET', '/jobs');
    t.is(r.status, 401);
    t.is(r.json.error.message, 'invalid API token');
  }));

test('a request with an expired token gets 401', (t) =>
  withHarness(async (h) => {
    const r = await h.api(h.tokens.expired, 'GET', '/jobs');
    t.is(r.status, 401);
    t.is(r.json.error.message, 'API token has expired');
  }));

test("a user cannot see or cancel another user's job", (t) =>
  withHarness(async (h) => {
    h.addSupervisor('s', 'board:x');
    const { json } = await h.api(h.tokens.alice, 'POST', '/jobs/new', jobRequest({ tag_config: 'board:x' }));
    for (const [method, path] of [
      ['GET', `/jobs/${json.job_id}/status`],
      ['GET', `/jobs/${json.job_id}/events`],
      ['GET', `/jobs/${json.job_id}/log`],
      ['DELETE', `/jobs/${json.job_id}`],
    ] as const) {
      t.is((await h.api(h.tokens.bob, method, path)).status, 403, `${method} ${path}`);
    }
    t.deepEqual((await h.api(h.tokens.bob, 'GET', '/jobs')).json, []);
    t.is(h.sb.jobs.get(json.job_id)!.state, 'queued');
  }));

test('an admin sees and cancels every job', (t) =>
  withHarness(async (h) => {
    h.addSupervisor('s', 'board:x');
    const { json } = await h.api(h.tokens.alice, 'POST', '/jobs/new', jobRequest({ tag_config: 'board:x' }));
    const list = await h.api(h.tokens.admin, 'GET', '/jobs');
    t.deepEqual(
      list.json.map((j: { job_id: string }) => j.job_id),
      [json.job_id],
    );
    const del = await h.api(h.tokens.admin, 'DELETE', `/jobs/${json.job_id}`);
    t.is(del.status, 200);
    t.is(del.json.exit_status, 'job_canceled');
  }));

test('an unknown job id gets 404', (t) =>
  withHarness(async (h) => {
    t.is((await h.api(h.tokens.alice, 'GET', '/jobs/00000000-0000-4000-8000-000000000000/status')).status, 404);
    t.is((await h.api(h.tokens.alice, 'GET', '/jobs/not-a-uuid/status')).status, 404);
  }));

test('secret parameter values are stored but never returned or logged', (t) =>
  withHarness(async (h) => {
    h.addSupervisor('s', 'board:x');
    const secret = 'hunter2-very-secret-value';
    const { json } = await h.api(
      h.tokens.alice,
      'POST',
      '/jobs/new',
      jobRequest({
        tag_config: 'board:x',
        parameters: { token: { value: secret, secret: true }, plain: { value: 'visible', secret: false } },
      }),
    );
    const status = await h.api(h.tokens.alice, 'GET', `/jobs/${json.job_id}/status`);
    t.deepEqual(status.json.parameters, { token: { secret: true }, plain: { secret: false, value: 'visible' } });
    for (const path of [
      '/jobs',
      `/jobs/${json.job_id}/status`,
      `/jobs/${json.job_id}/events`,
      `/jobs/${json.job_id}/log`,
    ]) {
      t.false((await h.api(h.tokens.admin, 'GET', path)).text.includes(secret), path);
    }
    t.false((await h.api(h.tokens.alice, 'DELETE', `/jobs/${json.job_id}`)).text.includes(secret));
    t.is(h.sb.jobs.request(h.sb.jobs.get(json.job_id)!).parameters.token!.value, secret);
    t.false(h.logLines.join('').includes(secret));
  }));

test('a secret in a rejected request is not echoed in the error', (t) =>
  withHarness(async (h) => {
    const r = await h.api(
      h.tokens.alice,
      'POST',
      '/jobs/new',
      jobRequest({ parameters: { 'bad/name': { value: 'hunter2', secret: true } } }),
    );
    t.is(r.status, 400);
    t.false(r.text.includes('hunter2'));
  }));

test('malformed JSON gets 400 and the server keeps serving', (t) =>
  withHarness(async (h) => {
    const r = await h.api(h.tokens.alice, 'POST', '/jobs/new', '{"init_spec": ');
    t.is(r.status, 400);
    t.is(r.json.error.code, 'invalid_body');
    t.is((await h.api(h.tokens.alice, 'GET', '/jobs')).status, 200);
  }));

const BAD_BODIES: Array<[string, unknown, RegExp]> = [
  ['a body that is not an object', [1, 2], /job request must be an object/],
  ['a missing init_spec', { tag_config: 'x' }, /missing init_spec/],
  ['a short image id', { init_spec: { type: 'image', image_id: 'abc' } }, /image_id must be 64/],
  ['an unknown init_spec type', { init_spec: { type: 'disk' } }, /init_spec.type must be one of/],
  ['a numeric tag_config', { ...jobRequest(), tag_config: 5 }, /tag_config must be a string/],
  ['a string override_timeout', { ...jobRequest(), override_timeout: '10' }, /override_timeout/],
  ['a negative override_timeout', { ...jobRequest(), override_timeout: -1 }, /override_timeout/],
  ['ssh_keys that is not an array', { ...jobRequest(), ssh_keys: 'ssh-ed25519 AAAA' }, /ssh_keys must be an array/],
  [
    'a parameter without value',
    { ...jobRequest(), parameters: { a: { secret: false } } },
    /parameters.a.value must be a string/,
  ],
  [
    'a parameter name with a slash',
    { ...jobRequest(), parameters: { '../x': { value: 'v', secret: false } } },
    /invalid parameter name/,
  ],
  ['an unknown field', { ...jobRequest(), tags: 'board:x' }, /unknown field "tags"/],
];

for (const [what, body, message] of BAD_BODIES) {
  test(`a job request with ${what} gets 400 with a clear message`, (t) =>
    withHarness(async (h) => {
      const r = await h.api(h.tokens.alice, 'POST', '/jobs/new', body);
      t.is(r.status, 400);
      t.regex(r.json.error.message, message);
      t.is(h.sb.db.jobs(null, 10).length, 0);
    }));
}

test('an oversized body gets 413', (t) =>
  withHarness(async (h) => {
    const big = jobRequest({ parameters: { a: { value: 'x'.repeat(2 * 1024 * 1024), secret: false } } });
    const r = await h.api(h.tokens.alice, 'POST', '/jobs/new', big);
    t.is(r.status, 413);
    t.is(r.json.error.code, 'body_too_large');
    t.is((await h.api(h.tokens.alice, 'GET', '/jobs')).status, 200);
  }));

test('a bad log offset gets 400', (t) =>
  withHarness(async (h) => {
    h.addSupervisor('s', '');
    const { json } = await h.api(h.tokens.alice, 'POST', '/jobs/new', jobRequest());
    t.is((await h.api(h.tokens.alice, 'GET', `/jobs/${json.job_id}/log?offset=-3`)).status, 400);
  }));

test('an unknown route gets a JSON 404', (t) =>
  withHarness(async (h) => {
    const r = await h.api(h.tokens.alice, 'GET', '/nothing');
    t.is(r.status, 404);
    t.regex(r.json.error.message, /no route/);
  }));

test('login with the right password returns a working token with an expiry', (t) =>
  withHarness(async (h) => {
    const { hashPassword } = await import('../../switchboard/auth.js');
    h.sb.db.addUser('carol', hashPassword('correct horse'), false);
    const r = await h.api(null, 'POST', '/tokens/login', { user: 'carol', password: 'correct horse' });
    t.is(r.status, 200);
    t.true(Date.parse(r.json.expires_at) > Date.now());
    t.is((await h.api(r.json.token, 'GET', '/jobs')).status, 200);
  }));

test('login with a wrong password gets 401', (t) =>
  withHarness(async (h) => {
    const { hashPassword } = await import('../../switchboard/auth.js');
    h.sb.db.addUser('carol', hashPassword('correct horse'), false);
    const r = await h.api(null, 'POST', '/tokens/login', { user: 'carol', password: 'wrong' });
    t.is(r.status, 401);
    t.is((await h.api(null, 'POST', '/tokens/login', { user: 'nobody', password: 'wrong' })).status, 401);
    t.false(h.logLines.join('').includes('wrong'));
  }));

test('the supervisor list shows tags and connection status', (t) =>
  withHarness(async (h) => {
    const s = h.addSupervisor('rpi-1', 'board:x;site:y');
    const r = await h.api(h.tokens.alice, 'GET', '/supervisors');
    t.deepEqual(r.json, [
      { id: s.id, name: 'rpi-1', tags: ['board:x', 'site:y'], status: 'disconnected', job_id: null },
    ]);
    t.is((await h.api(h.tokens.alice, 'GET', `/supervisors/${s.id}/status`)).json.name, 'rpi-1');
    t.is((await h.api(h.tokens.alice, 'GET', '/supervisors/00000000-0000-4000-8000-000000000000/status')).status, 404);
  }));

test('logging in removes expired tokens from the database', (t) =>
  withHarness(async (h) => {
    const { hashPassword } = await import('../../switchboard/auth.js');
    h.sb.db.addUser('carol', hashPassword('pw'), false);
    const count = () => (h.sb.db.sql.prepare('SELECT COUNT(*) AS n FROM api_tokens').get() as { n: number }).n;
    const before = count();
    await h.api(null, 'POST', '/tokens/login', { user: 'carol', password: 'pw' });
    t.is(count(), before); // one expired token gone, one new token
  }));
