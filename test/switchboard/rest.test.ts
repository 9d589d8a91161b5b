import test from 'ava';
import { randomBytes } from 'node:crypto';
import { hashPassword } from '../../switchboard/auth.js';
import { IMAGE_ID, jobRequest, startHarness, type Harness } from './harness.js';

async function withHarness(fn: (h: Harness) => Promise<void>): Promise<void> {
  const h = await startHarness({}, false);
  try {
    await fn(h);
  } finally {
    await h.close();
  }
}

const UNKNOWN_ID = '00000000-0000-4000-8000-000000000000';

async function enqueue(h: Harness, token: string, overrides: Parameters<typeof jobRequest>[0] = {}): Promise<string> {
  const r = await h.api(token, 'POST', '/jobs/new', jobRequest(overrides));
  if (r.status !== 200) throw new Error(r.text);
  return r.json.job_id as string;
}

// -- authentication --

test('a request without a token gets 401 unauthenticated', (t) =>
  withHarness(async (h) => {
    const r = await h.api(null, 'GET', '/jobs');
    t.is(r.status, 401);
    t.is(r.json.type, 'unauthenticated');
    t.regex(r.json.message, /Authorization/);
  }));

test('a token that is not the base64 of 128 bytes gets 401 naming the format', (t) =>
  withHarness(async (h) => {
    for (const bad of ['not-a-token', randomBytes(32).toString('base64url'), randomBytes(128).toString('base64url')]) {
      const r = await h.api(bad, 'GET', '/jobs');
      t.is(r.status, 401);
      t.regex(r.json.message, /standard base64 of 128 bytes/);
    }
  }));

test('a well-formed but unknown token gets 401', (t) =>
  withHarness(async (h) => {
    const r = await h.api(randomBytes(128).toString('base64'), 'GET', '/jobs');
    t.is(r.status, 401);
    t.deepEqual(r.json, { type: 'unauthenticated', message: 'invalid API token' });
  }));

test('a request with an expired token gets 401', (t) =>
  withHarness(async (h) => {
    const r = await h.api(h.tokens.expired, 'GET', '/jobs');
    t.is(r.status, 401);
    t.is(r.json.message, 'API token has expired');
  }));

test('API tokens are the padded standard base64 of 128 random bytes, stored only as a hash', (t) =>
  withHarness(async (h) => {
    await h.sb.db.addUser('carol', hashPassword('pw'), false);
    const { json } = await h.api(null, 'POST', '/tokens/login', { user_identifier: 'carol', password: 'pw' });
    t.regex(json.token, /^[A-Za-z0-9+/]{171}=$/);
    t.is(Buffer.from(json.token, 'base64').length, 128);
    const stored = await h.sb.db.kysely.selectFrom('api_tokens').select('token_hash').execute();
    t.true(stored.every((r) => r.token_hash.length === 32));
    const dump = JSON.stringify(await h.sb.db.kysely.selectFrom('api_tokens').selectAll().execute());
    t.false(dump.includes(json.token));
  }));

// -- login --

test('login by user name returns a working token with an expiry', (t) =>
  withHarness(async (h) => {
    await h.sb.db.addUser('carol', hashPassword('correct horse'), false, 'carol@example.org');
    const r = await h.api(null, 'POST', '/tokens/login', { user_identifier: 'carol', password: 'correct horse' });
    t.is(r.status, 200);
    t.deepEqual(Object.keys(r.json).sort(), ['expires_at', 'token']);
    t.true(Date.parse(r.json.expires_at) > Date.now());
    t.is((await h.api(r.json.token, 'GET', '/jobs')).status, 200);
  }));

test('login by e-mail address (any case) works as well', (t) =>
  withHarness(async (h) => {
    await h.sb.db.addUser('carol', hashPassword('correct horse'), false, 'Carol@Example.org');
    const r = await h.api(null, 'POST', '/tokens/login', {
      user_identifier: 'carol@example.ORG',
      password: 'correct horse',
    });
    t.is(r.status, 200);
    t.is((await h.api(r.json.token, 'GET', '/jobs')).status, 200);
  }));

test('login with bad credentials gets 403 unauthorized, and the password is not logged', (t) =>
  withHarness(async (h) => {
    await h.sb.db.addUser('carol', hashPassword('correct horse'), false, 'carol@example.org');
    for (const body of [
      { user_identifier: 'carol', password: 'wrong-pw-1' },
      { user_identifier: 'carol@example.org', password: 'wrong-pw-1' },
      { user_identifier: 'nobody', password: 'wrong-pw-1' },
      { user_identifier: 'alice', password: 'wrong-pw-1' }, // a user without a password
    ]) {
      const r = await h.api(null, 'POST', '/tokens/login', body);
      t.is(r.status, 403, body.user_identifier);
      t.is(r.json.type, 'unauthorized');
    }
    t.false(h.logLines.join('').includes('wrong-pw-1'));
  }));

test("login takes upstream's user_identifier, not our old user key", (t) =>
  withHarness(async (h) => {
    await h.sb.db.addUser('carol', hashPassword('pw'), false);
    const r = await h.api(null, 'POST', '/tokens/login', { user: 'carol', password: 'pw' });
    t.is(r.status, 400);
    t.is(r.json.type, 'bad_request');
  }));

test('logging in removes expired tokens from the database', (t) =>
  withHarness(async (h) => {
    await h.sb.db.addUser('carol', hashPassword('pw'), false);
    const count = async () => (await h.sb.db.tokens()).length;
    const before = await count();
    await h.api(null, 'POST', '/tokens/login', { user_identifier: 'carol', password: 'pw' });
    t.is(await count(), before); // one expired token gone, one new token
  }));

// -- access --

test("another user's job is invalid (404) to them, as upstream answers it", (t) =>
  withHarness(async (h) => {
    await h.addSupervisor('s', 'board:x');
    const id = await enqueue(h, h.tokens.alice, { tag_config: 'board:x' });
    for (const [method, path] of [
      ['GET', `/jobs/${id}/status`],
      ['GET', `/jobs/${id}/events`],
      ['GET', `/jobs/${id}/log`],
      ['DELETE', `/jobs/${id}`],
    ] as const) {
      const r = await h.api(h.tokens.bob, method, path);
      t.is(r.status, 404, `${method} ${path}`);
      t.is(r.json.type, 'invalid');
    }
    t.deepEqual((await h.api(h.tokens.bob, 'GET', '/jobs')).json, { type: 'ok', jobs: {}, next_cursor: null });
    t.is((await h.sb.jobs.get(id))!.state, 'queued');
  }));

test('an admin sees and cancels every job', (t) =>
  withHarness(async (h) => {
    await h.addSupervisor('s', 'board:x');
    const id = await enqueue(h, h.tokens.alice, { tag_config: 'board:x' });
    const list = await h.api(h.tokens.admin, 'GET', '/jobs');
    t.deepEqual(Object.keys(list.json.jobs), [id]);
    const del = await h.api(h.tokens.admin, 'DELETE', `/jobs/${id}`);
    t.is(del.status, 200);
    t.is(del.json.job_status.state.result.exit_status, 'job_canceled');
  }));

test('an unknown job id gets 404 invalid', (t) =>
  withHarness(async (h) => {
    for (const path of [`/jobs/${UNKNOWN_ID}/status`, '/jobs/not-a-uuid/status']) {
      const r = await h.api(h.tokens.alice, 'GET', path);
      t.is(r.status, 404);
      t.is(r.json.type, 'invalid');
    }
    t.is((await h.api(h.tokens.alice, 'DELETE', `/jobs/${UNKNOWN_ID}`)).json.type, 'invalid');
  }));

test('an unknown route gets a tagged JSON 404', (t) =>
  withHarness(async (h) => {
    const r = await h.api(h.tokens.alice, 'GET', '/nothing');
    t.is(r.status, 404);
    t.is(r.json.type, 'not_found');
    t.regex(r.json.message, /no route/);
  }));

// -- enqueue --

test('a job no registered supervisor could ever match is refused with 404 and not created', (t) =>
  withHarness(async (h) => {
    await h.addSupervisor('s', 'board:x');
    const r = await h.api(h.tokens.alice, 'POST', '/jobs/new', jobRequest({ tag_config: 'board:y' }));
    t.is(r.status, 404);
    t.is(r.json.type, 'supervisor_match_error');
    t.regex(r.json.message, /board:y/);
    t.is((await h.sb.db.jobPage({ limit: 10 })).length, 0);
    t.deepEqual((await h.api(h.tokens.alice, 'GET', '/jobs')).json.jobs, {});
  }));

for (const [text, seconds] of [
  ['90s', 90],
  ['90', 90],
  ['1h', 3600],
  ['2d', 172_800],
  ['1h 30m', 5400],
  ['1m 30s', 90],
  ['1.5s', 2],
  ['250ms', 1],
] as const) {
  test(`override_timeout "${text}" is ${seconds} s`, (t) =>
    withHarness(async (h) => {
      await h.addSupervisor('s', '');
      const id = await enqueue(h, h.tokens.alice, { override_timeout: text });
      t.is((await h.sb.jobs.request((await h.sb.jobs.get(id))!)).override_timeout, seconds);
      t.is((await h.api(h.tokens.alice, 'GET', `/jobs/${id}/status`)).json.job_status.timeout_seconds, seconds);
    }));
}

test('override_timeout may also be a JSON number of seconds (an extension)', (t) =>
  withHarness(async (h) => {
    await h.addSupervisor('s', '');
    const id = await enqueue(h, h.tokens.alice, { override_timeout: 120 as unknown as string });
    t.is((await h.sb.jobs.request((await h.sb.jobs.get(id))!)).override_timeout, 120);
  }));

test('secret parameter values are stored but never returned or logged', (t) =>
  withHarness(async (h) => {
    await h.addSupervisor('s', 'board:x');
    const secret = 'hunter2-very-secret-value';
    const id = await enqueue(h, h.tokens.alice, {
      tag_config: 'board:x',
      parameters: { token: { value: secret, secret: true }, plain: { value: 'visible', secret: false } },
    });
    const status = await h.api(h.tokens.alice, 'GET', `/jobs/${id}/status`);
    t.deepEqual(status.json.job_status.parameters, {
      token: { secret: true },
      plain: { secret: false, value: 'visible' },
    });
    for (const path of ['/jobs', `/jobs/${id}/status`, `/jobs/${id}/events`, `/jobs/${id}/log`]) {
      t.false((await h.api(h.tokens.admin, 'GET', path)).text.includes(secret), path);
    }
    t.false((await h.api(h.tokens.alice, 'DELETE', `/jobs/${id}`)).text.includes(secret));
    t.is((await h.sb.jobs.request((await h.sb.jobs.get(id))!)).parameters.token!.value, secret);
    t.false(h.logLines.join('').includes(secret));
  }));

test('job lists leave out parameters and SSH keys', (t) =>
  withHarness(async (h) => {
    await h.addSupervisor('s', '');
    const id = await enqueue(h, h.tokens.alice, {
      parameters: { plain: { value: 'visible', secret: false } },
      ssh_keys: ['ssh-ed25519 AAAA me'],
    });
    const entry = (await h.api(h.tokens.alice, 'GET', '/jobs')).json.jobs[id];
    t.false('parameters' in entry);
    t.false('ssh_keys' in entry);
  }));

test('a secret in a rejected request is not echoed in the error', (t) =>
  withHarness(async (h) => {
    const r = await h.api(
      h.tokens.alice,
      'POST',
      '/jobs/new',
      jobRequest({ parameters: { 'a.b': { value: 'hunter2', secret: true }, ab: { value: 'hunter3', secret: true } } }),
    );
    t.is(r.status, 400);
    t.false(r.text.includes('hunter2'));
    t.false(r.text.includes('hunter3'));
  }));

test('two parameter names that map to one file name are refused, naming the file', (t) =>
  withHarness(async (h) => {
    await h.addSupervisor('s', '');
    const r = await h.api(
      h.tokens.alice,
      'POST',
      '/jobs/new',
      jobRequest({ parameters: { apikey: { value: 'a', secret: false }, 'api.key': { value: 'b', secret: false } } }),
    );
    t.is(r.status, 400);
    t.is(r.json.type, 'bad_request');
    t.regex(r.json.message, /"apikey" and "api\.key" both map to the file name "apikey"/);
    t.is((await h.sb.db.jobPage({ limit: 10 })).length, 0);
  }));

test('names that differ only past 128 kept characters collide too', (t) =>
  withHarness(async (h) => {
    const long = 'x'.repeat(128);
    const r = await h.api(
      h.tokens.alice,
      'POST',
      '/jobs/new',
      jobRequest({
        parameters: { [`${long}a`]: { value: 'a', secret: false }, [`${long}b`]: { value: 'b', secret: false } },
      }),
    );
    t.is(r.status, 400);
    t.regex(r.json.message, new RegExp(`both map to the file name "${long}"`));
  }));

test('a parameter name that maps to no file name is refused', (t) =>
  withHarness(async (h) => {
    const r = await h.api(
      h.tokens.alice,
      'POST',
      '/jobs/new',
      jobRequest({ parameters: { '../..': { value: 'a', secret: false } } }),
    );
    t.is(r.status, 400);
    t.regex(r.json.message, /"\.\.\/\.\." maps to an empty file name/);
  }));

test("names the puppet cleans up (dots, slashes) are accepted when they stay distinct, as upstream's are", (t) =>
  withHarness(async (h) => {
    await h.addSupervisor('s', '');
    const id = await enqueue(h, h.tokens.alice, {
      parameters: { 'git.ref': { value: 'a', secret: false }, 'dir/name': { value: 'b', secret: false } },
    });
    t.deepEqual(Object.keys((await h.sb.jobs.request((await h.sb.jobs.get(id))!)).parameters), ['git.ref', 'dir/name']);
  }));

// -- restart_job and resume_job --

test('restart_job enqueues a new job that runs the earlier job image with this request', (t) =>
  withHarness(async (h) => {
    await h.addSupervisor('s', 'board:x');
    const first = await enqueue(h, h.tokens.alice, { tag_config: 'board:x' });
    const again = await enqueue(h, h.tokens.alice, {
      init_spec: { type: 'restart_job', job_id: first },
      tag_config: 'board:x',
      parameters: { run: { value: '2', secret: false } },
    });
    t.not(again, first);
    const req = await h.sb.jobs.request((await h.sb.jobs.get(again))!);
    t.deepEqual(req.init_spec, { type: 'image', image_id: IMAGE_ID });
    t.is(req.restart_of, first);
    t.deepEqual(req.parameters, { run: { value: '2', secret: false } });
    const status = (await h.api(h.tokens.alice, 'GET', `/jobs/${again}/status`)).json.job_status;
    t.like(status, { restart_of: first, init_spec: { type: 'image', image_id: IMAGE_ID } });
  }));

for (const type of ['restart_job', 'resume_job'] as const) {
  test(`${type} of a job that does not exist is refused with 404 invalid`, (t) =>
    withHarness(async (h) => {
      await h.addSupervisor('s', '');
      const r = await h.api(
        h.tokens.alice,
        'POST',
        '/jobs/new',
        jobRequest({ init_spec: { type, job_id: UNKNOWN_ID } }),
      );
      t.is(r.status, 404);
      t.is(r.json.type, 'invalid');
      t.is((await h.sb.db.jobPage({ limit: 10 })).length, 0);
    }));

  test(`${type} of another user's job is refused with 403 unauthorized`, (t) =>
    withHarness(async (h) => {
      await h.addSupervisor('s', '');
      const theirs = await enqueue(h, h.tokens.alice);
      const r = await h.api(h.tokens.bob, 'POST', '/jobs/new', jobRequest({ init_spec: { type, job_id: theirs } }));
      t.is(r.status, 403);
      t.is(r.json.type, 'unauthorized');
      t.is((await h.sb.db.jobPage({ limit: 10 })).length, 1);
    }));

  test(`an admin may ${type} another user's job`, (t) =>
    withHarness(async (h) => {
      await h.addSupervisor('s', '');
      const theirs = await enqueue(h, h.tokens.alice);
      const r = await h.api(h.tokens.admin, 'POST', '/jobs/new', jobRequest({ init_spec: { type, job_id: theirs } }));
      t.is(r.status, 200);
    }));
}

test('resume_job keeps its init_spec: the supervisor is asked to resume', (t) =>
  withHarness(async (h) => {
    await h.addSupervisor('s', '');
    const first = await enqueue(h, h.tokens.alice);
    const id = await enqueue(h, h.tokens.alice, { init_spec: { type: 'resume_job', job_id: first } });
    t.deepEqual((await h.sb.jobs.request((await h.sb.jobs.get(id))!)).init_spec, { type: 'resume_job', job_id: first });
  }));

// -- malformed requests --

test('malformed JSON gets 400 and the server keeps serving', (t) =>
  withHarness(async (h) => {
    const r = await h.api(h.tokens.alice, 'POST', '/jobs/new', '{"init_spec": "hunter2');
    t.is(r.status, 400);
    t.is(r.json.type, 'bad_request');
    t.false(r.text.includes('hunter2'));
    t.is((await h.api(h.tokens.alice, 'GET', '/jobs')).status, 200);
  }));

const BAD_BODIES: Array<[string, unknown, RegExp]> = [
  ['a body that is not an object', [1, 2], /job request must be an object/],
  ['a missing init_spec', { ...jobRequest(), init_spec: undefined }, /missing init_spec/],
  ['a missing override_timeout', { ...jobRequest(), override_timeout: undefined }, /missing override_timeout/],
  [
    'a missing secret flag',
    { ...jobRequest(), parameters: { a: { value: 'v' } } },
    /parameters.a.secret must be a boolean/,
  ],
  ['a short image id', { ...jobRequest(), init_spec: { type: 'image', image_id: 'abc' } }, /image_id must be 64/],
  ['an unknown init_spec type', { ...jobRequest(), init_spec: { type: 'disk' } }, /init_spec.type must be one of/],
  ['a numeric tag_config', { ...jobRequest(), tag_config: 5 }, /tag_config must be a string/],
  [
    'an override_timeout that is no duration',
    { ...jobRequest(), override_timeout: 'soon' },
    /override_timeout must be a duration/,
  ],
  ['a zero override_timeout', { ...jobRequest(), override_timeout: '0ns' }, /override_timeout must be longer than 0/],
  ['a negative override_timeout', { ...jobRequest(), override_timeout: -1 }, /override_timeout must be longer than 0/],
  ['an override_timeout over 30 days', { ...jobRequest(), override_timeout: '31d' }, /at most 30 days/],
  ['ssh_keys that is not an array', { ...jobRequest(), ssh_keys: 'ssh-ed25519 AAAA' }, /ssh_keys must be an array/],
  [
    'a parameter without value',
    { ...jobRequest(), parameters: { a: { secret: false } } },
    /parameters.a.value must be a string/,
  ],
  ['an unknown field', { ...jobRequest(), tags: 'board:x' }, /unknown field "tags"/],
];

for (const [what, body, message] of BAD_BODIES) {
  test(`a job request with ${what} gets 400 with a clear message`, (t) =>
    withHarness(async (h) => {
      const r = await h.api(h.tokens.alice, 'POST', '/jobs/new', body);
      t.is(r.status, 400);
      t.is(r.json.type, 'bad_request');
      t.regex(r.json.message, message);
      t.is((await h.sb.db.jobPage({ limit: 10 })).length, 0);
    }));
}

test('an oversized body gets 413', (t) =>
  withHarness(async (h) => {
    const big = jobRequest({ parameters: { a: { value: 'x'.repeat(2 * 1024 * 1024), secret: false } } });
    const r = await h.api(h.tokens.alice, 'POST', '/jobs/new', big);
    t.is(r.status, 413);
    t.is(r.json.type, 'payload_too_large');
    t.is((await h.api(h.tokens.alice, 'GET', '/jobs')).status, 200);
  }));

test('a bad log offset gets 400', (t) =>
  withHarness(async (h) => {
    await h.addSupervisor('s', '');
    const id = await enqueue(h, h.tokens.alice);
    const r = await h.api(h.tokens.alice, 'GET', `/jobs/${id}/log?offset=-3`);
    t.is(r.status, 400);
    t.is(r.json.type, 'bad_request');
  }));

// -- supervisors --

test('the supervisor list is a map of id to status, with name and tags as extra keys', (t) =>
  withHarness(async (h) => {
    const s = await h.addSupervisor('rpi-1', 'board:x;site:y');
    const r = await h.api(h.tokens.alice, 'GET', '/supervisors');
    t.deepEqual(r.json, {
      type: 'ok',
      supervisors: { [s.id]: { status: 'disconnected', id: s.id, name: 'rpi-1', tags: ['board:x', 'site:y'] } },
    });
    const one = await h.api(h.tokens.alice, 'GET', `/supervisors/${s.id}/status`);
    t.deepEqual(one.json, { type: 'ok', status: r.json.supervisors[s.id] });
    const missing = await h.api(h.tokens.alice, 'GET', `/supervisors/${UNKNOWN_ID}/status`);
    t.is(missing.status, 404);
    t.is(missing.json.type, 'invalid');
  }));

test('the supervisor list filters by work and connection', (t) =>
  withHarness(async (h) => {
    const s = await h.addSupervisor('rpi-1', '');
    const ids = async (q: string) =>
      Object.keys((await h.api(h.tokens.alice, 'GET', `/supervisors${q}`)).json.supervisors);
    t.deepEqual(await ids('?conn=disconnected'), [s.id]);
    t.deepEqual(await ids('?conn=connected'), []);
    // As upstream: "work" looks only at work, so a disconnected supervisor without a job is idle.
    t.deepEqual(await ids('?work=idle'), [s.id]);
    t.deepEqual(await ids('?work=busy&conn=disconnected'), []);
    const bad = await h.api(h.tokens.alice, 'GET', '/supervisors?work=lazy');
    t.is(bad.status, 400);
    t.regex(bad.json.message, /work must be one of idle, busy/);
  }));
