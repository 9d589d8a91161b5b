// Golden messages of the switchboard wire, as upstream's serde writes them (docs/switchboard.md):
// the exact JSON of every WebSocket message each way, and of every REST request and answer body
// that protocol/ defines. Each golden must validate, and (where we write that message) the value
// must encode back to the same bytes, so a renamed key, a changed order or a new variant fails here.

import test from 'ava';
import { WebSocket } from 'ws';
import {
  DEVICE_GRANT_TYPE,
  deviceErrorOf,
  parseDeviceCodeRequest,
  parseDeviceCodeResponse,
  parseDeviceTokenRequest,
  parseDeviceTokenResponse,
} from '../../protocol/device-flow.js';
import { parseJobRequest, type JobRequest } from '../../protocol/job.js';
import {
  API_PREFIX,
  ERROR_STATUS,
  errorBodyOf,
  parseCancelAnswer,
  parseEnqueueResponse,
  parseJobEventsAnswer,
  parseJobListAnswer,
  parseJobStatusAnswer,
  parseLoginRequest,
  parseLoginResponse,
  parseSupervisorFilter,
  parseSupervisorListAnswer,
  parseSupervisorStatusAnswer,
} from '../../protocol/switchboard-api.js';
import {
  JOB_ERROR_KINDS,
  WEBSOCKET_SUBPROTOCOL,
  parseToSupervisor,
  parseToSwitchboard,
  type ToSupervisor,
  type ToSwitchboard,
} from '../../protocol/switchboard-ws.js';
import { ValidationError, attempt } from '../../protocol/validation.js';
import { FakeSupervisor, IMAGE_ID, jobRequest, startHarness } from './harness.js';

const JOB = '6d1c5a1e-1b9f-4c3e-9d2a-0f4b8e7c6a51';
const JOB2 = '0b7e2f44-8c1d-4a6b-b3e9-5d2c7a9f1e08';
const SUP = 'c2f1e0d9-7a6b-4c5d-8e9f-a0b1c2d3e4f5';
const REQ = '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d';
const IMG = IMAGE_ID;

// -- WebSocket: switchboard to supervisor --

const toSupervisor: Array<[string, ToSupervisor]> = [
  [
    `{"type":"start_job","message":{"job_id":"${JOB}","image_spec":{"type":"image","image_id":"${IMG}"},"ssh_keys":["ssh-ed25519 AAAAC3Nz alice@lab"],"restart_policy":{"remaining_restart_count":2},"ssh_rendezvous_servers":[],"parameters":{"board":{"value":"nrf52840dk","secret":false},"token":{"value":"s3cr3t","secret":true}}}}`,
    {
      type: 'start_job',
      message: {
        job_id: JOB,
        image_spec: { type: 'image', image_id: IMG },
        ssh_keys: ['ssh-ed25519 AAAAC3Nz alice@lab'],
        restart_policy: { remaining_restart_count: 2 },
        ssh_rendezvous_servers: [],
        parameters: { board: { value: 'nrf52840dk', secret: false }, token: { value: 's3cr3t', secret: true } },
      },
    },
  ],
  [
    `{"type":"start_job","message":{"job_id":"${JOB2}","image_spec":{"type":"resume_job","job_id":"${JOB}"},"ssh_keys":[],"restart_policy":{"remaining_restart_count":0},"ssh_rendezvous_servers":[],"parameters":{}}}`,
    {
      type: 'start_job',
      message: {
        job_id: JOB2,
        image_spec: { type: 'resume_job', job_id: JOB },
        ssh_keys: [],
        restart_policy: { remaining_restart_count: 0 },
        ssh_rendezvous_servers: [],
        parameters: {},
      },
    },
  ],
  [`{"type":"stop_job","message":{"job_id":"${JOB}"}}`, { type: 'stop_job', message: { job_id: JOB } }],
  [
    `{"type":"status_request","message":{"request_id":"${REQ}","message":null}}`,
    { type: 'status_request', message: { request_id: REQ, message: null } },
  ],
];

// -- WebSocket: supervisor to switchboard --

const event = (e: string) =>
  `{"type":"supervisor_event","message":{"type":"job_event","job_id":"${JOB}","event":${e}}}`;

const toSwitchboard: Array<[string, ToSwitchboard]> = [
  [
    `{"type":"status_response","message":{"response_to_request_id":"${REQ}","message":{"type":"idle"}}}`,
    { type: 'status_response', message: { response_to_request_id: REQ, message: { type: 'idle' } } },
  ],
  ...(
    [
      ['{"state":"initializing","stage":"booting"}', { state: 'initializing', stage: 'booting' }],
      ['{"state":"ready"}', { state: 'ready' }],
      ['{"state":"terminating"}', { state: 'terminating' }],
      ['{"state":"terminated"}', { state: 'terminated' }],
    ] as const
  ).map(([json, job_state]): [string, ToSwitchboard] => [
    `{"type":"status_response","message":{"response_to_request_id":"${REQ}","message":{"type":"ongoing_job","job_id":"${JOB}","job_state":${json}}}}`,
    {
      type: 'status_response',
      message: { response_to_request_id: REQ, message: { type: 'ongoing_job', job_id: JOB, job_state } },
    },
  ]),
  [
    event(
      '{"type":"state_transition","new_state":{"state":"initializing","stage":"fetching_image"},"status_message":"pulling 3 blobs"}',
    ),
    {
      type: 'supervisor_event',
      message: {
        type: 'job_event',
        job_id: JOB,
        event: {
          type: 'state_transition',
          new_state: { state: 'initializing', stage: 'fetching_image' },
          status_message: 'pulling 3 blobs',
        },
      },
    },
  ],
  [
    event('{"type":"state_transition","new_state":{"state":"ready"},"status_message":null}'),
    {
      type: 'supervisor_event',
      message: {
        type: 'job_event',
        job_id: JOB,
        event: { type: 'state_transition', new_state: { state: 'ready' }, status_message: null },
      },
    },
  ],
  ...(['success', 'error', 'unknown'] as const).map((s, i): [string, ToSwitchboard] => {
    const out = i === 0 ? null : `exit ${i}`;
    return [
      event(`{"type":"declare_exit_status","user_exit_status":"${s}","host_output":${JSON.stringify(out)}}`),
      {
        type: 'supervisor_event',
        message: {
          type: 'job_event',
          job_id: JOB,
          event: { type: 'declare_exit_status', user_exit_status: s, host_output: out },
        },
      },
    ];
  }),
  ...JOB_ERROR_KINDS.map((kind): [string, ToSwitchboard] => [
    event(`{"type":"error","error":{"error_kind":"${kind}","description":"what went wrong"}}`),
    {
      type: 'supervisor_event',
      message: {
        type: 'job_event',
        job_id: JOB,
        event: { type: 'error', error: { error_kind: kind, description: 'what went wrong' } },
      },
    },
  ]),
  [
    event('{"type":"console_log","console_bytes":[104,105,13,10,0,255]}'),
    {
      type: 'supervisor_event',
      message: {
        type: 'job_event',
        job_id: JOB,
        event: { type: 'console_log', console_bytes: [104, 105, 13, 10, 0, 255] },
      },
    },
  ],
];

/** A distinct title for each golden message. */
function label(m: ToSupervisor | ToSwitchboard): string {
  switch (m.type) {
    case 'status_response': {
      const s = m.message.message;
      return s.type === 'idle' ? 'status_response idle' : `status_response ongoing_job ${s.job_state.state}`;
    }
    case 'supervisor_event': {
      const e = m.message.event;
      if (e.type === 'error') return `job_event error ${e.error.error_kind}`;
      if (e.type === 'declare_exit_status') return `job_event declare_exit_status ${e.user_exit_status}`;
      if (e.type === 'state_transition') return `job_event state_transition ${e.new_state.state}`;
      return `job_event ${e.type}`;
    }
    case 'start_job':
      return `start_job ${m.message.image_spec.type}`;
    default:
      return m.type;
  }
}

for (const [json, message] of toSupervisor) {
  test(`golden to supervisor: ${label(message)} encodes and validates back`, (t) => {
    t.is(JSON.stringify(message), json);
    t.is(JSON.stringify(parseToSupervisor(json)), json);
  });
}

for (const [json, message] of toSwitchboard) {
  test(`golden to switchboard: ${label(message)} encodes and validates back`, (t) => {
    t.is(JSON.stringify(message), json);
    t.is(JSON.stringify(parseToSwitchboard(json)), json);
  });
}

test('every WebSocket message type, job event type, running state and error kind has a golden', (t) => {
  t.deepEqual(new Set(toSupervisor.map(([, m]) => m.type)), new Set(['start_job', 'stop_job', 'status_request']));
  t.deepEqual(new Set(toSwitchboard.map(([, m]) => m.type)), new Set(['status_response', 'supervisor_event']));
  const events = toSwitchboard.flatMap(([, m]) => (m.type === 'supervisor_event' ? [m.message.event] : []));
  t.deepEqual(
    new Set(events.map((e) => e.type)),
    new Set(['state_transition', 'declare_exit_status', 'error', 'console_log']),
  );
  t.deepEqual(
    events.flatMap((e) => (e.type === 'error' ? [e.error.error_kind] : [])),
    [...JOB_ERROR_KINDS],
  );
  const states = toSwitchboard.flatMap(([, m]) =>
    m.type === 'status_response' && m.message.message.type === 'ongoing_job' ? [m.message.message.job_state.state] : [],
  );
  t.deepEqual(new Set(states), new Set(['initializing', 'ready', 'terminating', 'terminated']));
});

test('a late-2024 start_job with init_spec and without ssh_rendezvous_servers validates to the same message', (t) => {
  const old = `{"type":"start_job","message":{"job_id":"${JOB2}","init_spec":{"type":"resume_job","job_id":"${JOB}"},"ssh_keys":[],"restart_policy":{"remaining_restart_count":0},"parameters":{}}}`;
  t.is(JSON.stringify(parseToSupervisor(old)), toSupervisor[1]![0]);
});

test('the switchboard sends status_request, start_job and stop_job exactly in the golden shapes', async (t) => {
  const h = await startHarness();
  const sup = await h.addSupervisor('rpi-1', 'board:x');
  const fake = await FakeSupervisor.connect(h.url, sup.id, sup.token);
  t.teardown(async () => {
    await fake.close();
    await h.close();
  });
  const request = await fake.next('status_request');
  const r = await h.api(
    h.tokens.alice,
    'POST',
    '/jobs/new',
    jobRequest({
      tag_config: 'board:x',
      ssh_keys: ['ssh-ed25519 AAAAC3Nz alice@lab'],
      restart_policy: { remaining_restart_count: 2 },
      parameters: { board: { value: 'nrf52840dk', secret: false }, token: { value: 's3cr3t', secret: true } },
    }),
  );
  t.is(r.status, 200);
  const id: string = r.json.job_id;
  await fake.next('start_job');
  fake.transition(id, { state: 'ready' });
  t.is((await h.api(h.tokens.alice, 'DELETE', `/jobs/${id}`)).status, 200);
  await fake.next('stop_job');
  const named = (raw: string) => raw.replaceAll(id, JOB).replaceAll(request.message.request_id, REQ);
  const raw = fake.raw.map(named);
  t.is(raw[0], toSupervisor[3]![0]);
  t.true(raw.includes(toSupervisor[0]![0]), raw.join('\n'));
  t.true(raw.includes(toSupervisor[2]![0]), raw.join('\n'));
});

// -- REST request bodies --

test('golden REST request: POST /tokens/login', (t) => {
  const golden = '{"user_identifier":"alice@example.org","password":"correct horse"}';
  t.is(JSON.stringify(parseLoginRequest(JSON.parse(golden))), golden);
});

const JOB_REQUESTS: Array<[string, JobRequest]> = [
  [
    `{"init_spec":{"type":"image","image_id":"${IMG}"},"ssh_keys":["ssh-ed25519 AAAAC3Nz alice@lab"],"restart_policy":{"remaining_restart_count":1},"parameters":{"board":{"value":"nrf52840dk","secret":false},"token":{"value":"s3cr3t","secret":true}},"tag_config":"board:nrf52840dk;site:lab","override_timeout":"1h 30m"}`,
    {
      init_spec: { type: 'image', image_id: IMG },
      ssh_keys: ['ssh-ed25519 AAAAC3Nz alice@lab'],
      restart_policy: { remaining_restart_count: 1 },
      parameters: { board: { value: 'nrf52840dk', secret: false }, token: { value: 's3cr3t', secret: true } },
      tag_config: 'board:nrf52840dk;site:lab',
      override_timeout: 5400,
    },
  ],
  [
    `{"init_spec":{"type":"resume_job","job_id":"${JOB}"},"ssh_keys":[],"restart_policy":{"remaining_restart_count":0},"parameters":{},"tag_config":"","override_timeout":null}`,
    {
      init_spec: { type: 'resume_job', job_id: JOB },
      ssh_keys: [],
      restart_policy: { remaining_restart_count: 0 },
      parameters: {},
      tag_config: '',
      override_timeout: null,
    },
  ],
  [
    `{"init_spec":{"type":"restart_job","job_id":"${JOB}"},"ssh_keys":[],"restart_policy":{"remaining_restart_count":0},"parameters":{},"tag_config":"","override_timeout":"90"}`,
    {
      init_spec: { type: 'restart_job', job_id: JOB },
      ssh_keys: [],
      restart_policy: { remaining_restart_count: 0 },
      parameters: {},
      tag_config: '',
      override_timeout: 90,
    },
  ],
];

for (const [json, value] of JOB_REQUESTS) {
  test(`golden REST request: POST /jobs/new with init_spec ${value.init_spec.type}`, (t) => {
    t.deepEqual(parseJobRequest(JSON.parse(json)), value);
  });
}

test('golden REST request: the GET /supervisors query', (t) => {
  t.deepEqual(parseSupervisorFilter({ work: 'busy', conn: 'disconnected' }), { work: 'busy', conn: 'disconnected' });
  t.deepEqual(parseSupervisorFilter({}), { work: null, conn: null });
});

// -- REST answer bodies, as clients read them --

const T = '2026-05-01T12:00:00.000Z';
const UPSTREAM_STATE = `{"type":"queued","dispatched_to_supervisor":null,"ssh_endpoints":null,"ssh_user":null,"ssh_host_keys":null,"result":null}`;
const TERMINATED_STATE = `{"type":"terminated","dispatched_to_supervisor":"${SUP}","ssh_endpoints":[{"host":"10.0.0.2","port":22}],"ssh_user":"tml","ssh_host_keys":["ssh-ed25519 AAAAhost"],"result":{"job_id":"${JOB}","supervisor_id":"${SUP}","exit_status":"workload_finished_success","host_output":"ok","terminated_at":"${T}"}}`;
const EXTENSIONS = `"job_id":"${JOB}","owner":"alice","status_message":null,"exit_status":"workload_finished_success","exit_message":"ok","supervisor_name":"rpi-1","tag_config":"board:x","init_spec":{"type":"image","image_id":"${IMG}"},"restart_of":null,"timeout_seconds":600,"queued_at":"${T}","scheduled_at":"${T}","updated_at":"${T}","terminated_at":"${T}","log_bytes":12`;
const DETAIL = `${EXTENSIONS},"parameters":{"board":{"secret":false,"value":"x"},"token":{"secret":true}},"ssh_keys":[]`;

const ANSWERS: Array<[string, string, (v: unknown) => unknown]> = [
  ['POST /tokens/login', `{"token":"${'A'.repeat(170)}==","expires_at":"${T}"}`, parseLoginResponse],
  ['POST /jobs/new', `{"type":"ok","job_id":"${JOB}"}`, parseEnqueueResponse],
  [
    'GET /jobs/:id/status (upstream)',
    `{"type":"ok","job_status":{"state":${UPSTREAM_STATE},"as_of":"${T}"}}`,
    parseJobStatusAnswer,
  ],
  [
    'GET /jobs/:id/status (ours)',
    `{"type":"ok","job_status":{"state":${TERMINATED_STATE},"as_of":"${T}",${DETAIL}}}`,
    parseJobStatusAnswer,
  ],
  [
    'GET /jobs',
    `{"type":"ok","jobs":{"${JOB}":{"state":${TERMINATED_STATE},"as_of":"${T}",${EXTENSIONS}},"${JOB2}":{"state":{"type":"initializing","stage":"provisioning","dispatched_to_supervisor":"${SUP}","ssh_endpoints":null,"ssh_user":null,"ssh_host_keys":null,"result":null},"as_of":"${T}"}}}`,
    parseJobListAnswer,
  ],
  ['DELETE /jobs/:id (upstream)', '{"type":"ok"}', parseCancelAnswer],
  [
    'DELETE /jobs/:id (ours)',
    `{"type":"ok","job_status":{"state":${UPSTREAM_STATE},"as_of":"${T}"}}`,
    parseCancelAnswer,
  ],
  [
    'GET /jobs/:id/events',
    `{"type":"ok","events":[{"at":"${T}","kind":"state","by":"switchboard","state":"queued","stage":null,"status_message":null,"exit_status":null},{"at":"${T}","kind":"sub_state","by":"supervisor","state":"initializing","stage":"booting","status_message":"flashing","exit_status":null},{"at":"${T}","kind":"exit_status","by":"supervisor","state":"ready","stage":null,"status_message":null,"exit_status":"workload_finished_error"}]}`,
    parseJobEventsAnswer,
  ],
  [
    'GET /supervisors',
    `{"type":"ok","supervisors":{"${SUP}":{"status":"busy","job_id":"${JOB}","job_state":{"state":"initializing","stage":"booting"},"id":"${SUP}","name":"rpi-1","tags":["board:x"]},"${JOB2}":{"status":"disconnected"}}}`,
    parseSupervisorListAnswer,
  ],
  ...(
    [
      `{"status":"idle"}`,
      `{"status":"disconnected","id":"${SUP}","name":"rpi-1","tags":[]}`,
      `{"status":"busy_disconnected","job_id":"${JOB}","job_state":{"state":"terminating"}}`,
    ] as const
  ).map((s): [string, string, (v: unknown) => unknown] => [
    `GET /supervisors/:id/status ${s.slice(10, 30)}`,
    `{"type":"ok","status":${s}}`,
    parseSupervisorStatusAnswer,
  ]),
];

for (const [what, json, parse] of ANSWERS) {
  test(`golden REST answer: ${what} validates to every key it holds`, (t) => {
    t.deepEqual(parse(JSON.parse(json)), JSON.parse(json));
  });
}

test('golden REST answer: every error type has its status and the body {"type","message"}', (t) => {
  t.deepEqual(ERROR_STATUS, {
    bad_request: 400,
    unauthenticated: 401,
    unauthorized: 403,
    invalid: 404,
    supervisor_match_error: 404,
    not_found: 404,
    payload_too_large: 413,
    upgrade_required: 426,
    too_many_requests: 429,
    queue_limit: 429,
    internal: 500,
    storage_full: 507,
  });
  for (const type of Object.keys(ERROR_STATUS)) {
    const golden = `{"type":"${type}","message":"why"}`;
    t.deepEqual(errorBodyOf(JSON.parse(golden)), { type, message: 'why' });
    t.throws(() => parseEnqueueResponse(JSON.parse(golden)), { instanceOf: ValidationError }, type);
  }
});

// -- tests that catch what they name --

test('a parameter whose secret flag is not a boolean is refused without echoing the value or the flag', async (t) => {
  const value = 'hunter2-do-not-echo';
  const flag = 'yes-please-do-not-echo';
  const body = jobRequest({ parameters: { token: { value, secret: flag } as never } });
  const parsed = attempt(() => parseJobRequest(body));
  t.false(parsed.ok);
  if (!parsed.ok) {
    t.is(parsed.error.message, 'parameters.token.secret must be a boolean');
  }
  const h = await startHarness({}, false);
  t.teardown(() => h.close());
  const r = await h.api(h.tokens.alice, 'POST', '/jobs/new', body);
  t.is(r.status, 400);
  t.deepEqual(r.json, { type: 'bad_request', message: 'parameters.token.secret must be a boolean' });
  for (const text of [r.text, ...h.logLines]) {
    t.false(text.includes(value));
    t.false(text.includes(flag));
  }
});

function upgradeStatus(url: string, headers: Record<string, string>): Promise<number> {
  const ws = new WebSocket(url, WEBSOCKET_SUBPROTOCOL, { headers });
  return new Promise((resolve, reject) => {
    ws.once('unexpected-response', (_req, res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    ws.once('open', () => {
      ws.close();
      resolve(101);
    });
    ws.once('error', reject);
  });
}

test('a supervisor WebSocket upgrade without an Authorization header is refused with 401', async (t) => {
  const h = await startHarness();
  t.teardown(() => h.close());
  const sup = await h.addSupervisor('rpi-1', 'board:x');
  const url = `${h.url.replace(/^http/, 'ws')}${API_PREFIX}/supervisors/${sup.id}/connect`;
  t.is(await upgradeStatus(url, {}), 401);
  t.is(await upgradeStatus(url, { authorization: '' }), 401);
  t.is(await upgradeStatus(url, { authorization: `Basic ${sup.token}` }), 401);
  const listed = await h.api(h.tokens.alice, 'GET', `/supervisors/${sup.id}/status`);
  t.is(listed.json.status.status, 'disconnected');
  // The same request with the token is admitted, so the refusals above are about the header.
  t.is(await upgradeStatus(url, { authorization: `Bearer ${sup.token}` }), 101);
});

// -- device login (RFC 8628 field names) --

test('golden device login bodies: code and token requests and answers, and an error', (t) => {
  const codeRequest = '{"client_id":"tml 0.1.0 on laptop"}';
  t.is(JSON.stringify(parseDeviceCodeRequest(JSON.parse(codeRequest))), codeRequest);
  const tokenRequest = `{"grant_type":"${DEVICE_GRANT_TYPE}","device_code":"Zm9v","client_id":"tml"}`;
  t.is(JSON.stringify(parseDeviceTokenRequest(JSON.parse(tokenRequest))), tokenRequest);
  const codeAnswer =
    '{"device_code":"Zm9v","user_code":"BCDF-GHJK","verification_uri":"http://sb/device","verification_uri_complete":"http://sb/device?code=BCDF-GHJK","expires_in":600,"interval":5}';
  t.is(JSON.stringify(parseDeviceCodeResponse(JSON.parse(codeAnswer))), codeAnswer);
  const tokenAnswer = `{"access_token":"${'A'.repeat(170)}==","token_type":"Bearer","expires_in":604800,"expires_at":"${T}","user":"alice"}`;
  t.is(JSON.stringify(parseDeviceTokenResponse(JSON.parse(tokenAnswer))), tokenAnswer);
  const error = '{"error":"authorization_pending","error_description":"the code has not been approved yet"}';
  t.is(JSON.stringify(deviceErrorOf(JSON.parse(error))), error);
});
