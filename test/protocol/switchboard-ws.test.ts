import test from 'ava';
import fc from 'fast-check';
import {
  JOB_ERROR_KINDS,
  canonicalSupervisorToken,
  encodeSocketConfig,
  parseSocketConfig,
  parseToSupervisor,
  parseToSupervisorForJob,
  parseToSwitchboard,
  parseWireDuration,
  startJobMessage,
} from '../../protocol/switchboard-ws.js';
import { ValidationError } from '../../protocol/validation.js';
import { JOB_ID, startMessage } from '../supervisor/fakes.js';

const REQ = '3f2a1b4c-5d6e-4f70-8a9b-0c1d2e3f4a5b';
const IMAGE = 'ab'.repeat(32);

// Golden JSON as upstream's serde writes each message (treadmill-rs api::switchboard_supervisor:
// `Message` adjacently tagged type/message, events internally tagged by type, RunningJobState by
// state, JobErrorKind as its PascalCase variant name). Each must parse, and our value must encode
// back to exactly these bytes: that is what the other side receives from us.

const TO_SUPERVISOR: Array<[string, string]> = [
  [
    'start_job (2025)',
    `{"type":"start_job","message":{"job_id":"${JOB_ID}","image_spec":{"type":"image","image_id":"${IMAGE}"},"ssh_keys":["ssh-ed25519 AAAA me"],"restart_policy":{"remaining_restart_count":0},"ssh_rendezvous_servers":[],"parameters":{"k":{"value":"v","secret":true}}}}`,
  ],
  ['stop_job', `{"type":"stop_job","message":{"job_id":"${JOB_ID}"}}`],
  ['status_request', `{"type":"status_request","message":{"request_id":"${REQ}","message":null}}`],
];

const TO_SWITCHBOARD: Array<[string, string]> = [
  [
    'state_transition',
    `{"type":"supervisor_event","message":{"type":"job_event","job_id":"${JOB_ID}","event":{"type":"state_transition","new_state":{"state":"initializing","stage":"fetching_image"},"status_message":null}}}`,
  ],
  [
    'state_transition with a status message',
    `{"type":"supervisor_event","message":{"type":"job_event","job_id":"${JOB_ID}","event":{"type":"state_transition","new_state":{"state":"ready"},"status_message":"flashing"}}}`,
  ],
  [
    'declare_exit_status',
    `{"type":"supervisor_event","message":{"type":"job_event","job_id":"${JOB_ID}","event":{"type":"declare_exit_status","user_exit_status":"error","host_output":"3 failed"}}}`,
  ],
  ...JOB_ERROR_KINDS.map((kind): [string, string] => [
    `error ${kind}`,
    `{"type":"supervisor_event","message":{"type":"job_event","job_id":"${JOB_ID}","event":{"type":"error","error":{"error_kind":"${kind}","description":"why"}}}}`,
  ]),
  [
    'console_log',
    `{"type":"supervisor_event","message":{"type":"job_event","job_id":"${JOB_ID}","event":{"type":"console_log","console_bytes":[104,105,10]}}}`,
  ],
  [
    'status_response idle',
    `{"type":"status_response","message":{"response_to_request_id":"${REQ}","message":{"type":"idle"}}}`,
  ],
  [
    'status_response ongoing_job',
    `{"type":"status_response","message":{"response_to_request_id":"${REQ}","message":{"type":"ongoing_job","job_id":"${JOB_ID}","job_state":{"state":"terminating"}}}}`,
  ],
];

for (const [what, golden] of TO_SUPERVISOR) {
  test(`golden ${what} parses and encodes back to the same bytes`, (t) => {
    t.is(JSON.stringify(parseToSupervisor(golden)), golden);
  });
}

for (const [what, golden] of TO_SWITCHBOARD) {
  test(`golden ${what} from a supervisor parses and encodes back to the same bytes`, (t) => {
    t.is(JSON.stringify(parseToSwitchboard(golden)), golden);
  });
}

test("a late-2024 switchboard's start_job with rendezvous servers parses; they are kept, not used", (t) => {
  const text = `{"type":"start_job","message":{"job_id":"${JOB_ID}","image_spec":{"type":"image","image_id":"${IMAGE}"},"ssh_keys":[],"restart_policy":{"remaining_restart_count":0},"ssh_rendezvous_servers":[{"client_id":"${REQ}","server_base_url":"https://rdv.example","auth_token":"t"}],"parameters":{}}}`;
  const msg = parseToSupervisor(text);
  t.like(msg, { type: 'start_job', message: { ssh_rendezvous_servers: [{ server_base_url: 'https://rdv.example' }] } });
});

test('a 2025 start_job without ssh_rendezvous_servers parses to an empty list', (t) => {
  const text = `{"type":"start_job","message":{"job_id":"${JOB_ID}","image_spec":{"type":"image","image_id":"${IMAGE}"},"ssh_keys":[],"restart_policy":{"remaining_restart_count":0},"parameters":{}}}`;
  t.like(parseToSupervisor(text), { message: { ssh_rendezvous_servers: [] } });
});

test('a mid-2024 start_job names the image init_spec, and parses the same', (t) => {
  const text = `{"type":"start_job","message":{"job_id":"${JOB_ID}","init_spec":{"type":"image","image_id":"${IMAGE}"},"ssh_keys":[],"restart_policy":{"remaining_restart_count":0},"ssh_rendezvous_servers":[],"parameters":{}}}`;
  t.like(parseToSupervisor(text), { message: { image_spec: { type: 'image', image_id: IMAGE } } });
});

test('keys a newer peer adds are ignored, as serde ignores them', (t) => {
  const text = `{"type":"stop_job","message":{"job_id":"${JOB_ID}","reason":"later"},"extra":1}`;
  t.deepEqual(parseToSupervisor(text), { type: 'stop_job', message: { job_id: JOB_ID } });
});

test('an error of a kind upstream does not have is refused', (t) => {
  const text = `{"type":"supervisor_event","message":{"type":"job_event","job_id":"${JOB_ID}","event":{"type":"error","error":{"error_kind":"host_start_error","description":"x"}}}}`;
  t.throws(() => parseToSwitchboard(text), {
    instanceOf: ValidationError,
    message: /error_kind must be one of AlreadyRunning/,
  });
});

test('our old error shape {kind, message} is refused', (t) => {
  const text = `{"type":"supervisor_event","message":{"type":"job_event","job_id":"${JOB_ID}","event":{"type":"error","error":{"kind":"internal","message":"x"}}}}`;
  t.throws(() => parseToSwitchboard(text), { instanceOf: ValidationError });
});

test('a start_job without one of the keys upstream requires is refused, keeping its job id', (t) => {
  const { parameters: _p, ...rest } = startMessage();
  const result = parseToSupervisorForJob(JSON.stringify({ type: 'start_job', message: rest }));
  t.deepEqual(result, { ok: false, error: 'start_job is missing parameters', jobId: JOB_ID });
});

test('invalid JSON is refused with a clear error', (t) => {
  t.deepEqual(parseToSupervisorForJob('{"type":'), { ok: false, error: 'message is not valid JSON' });
});

test('an unknown type is refused', (t) => {
  t.like(parseToSupervisorForJob('{"type":"reboot_everything","message":{}}'), {
    ok: false,
    error: 'message.type must be one of start_job, stop_job, status_request',
  });
});

test('a start_job with a bad image id is refused but keeps its job id so the job can be failed', (t) => {
  const bad = { type: 'start_job', message: { ...startMessage(), image_spec: { type: 'image', image_id: 'nope' } } };
  const result = parseToSupervisorForJob(JSON.stringify(bad));
  t.like(result, { ok: false, jobId: JOB_ID });
  t.regex((result as { error: string }).error, /image_id must be 64 lowercase hex digits/);
});

test('a start_job without a valid job id is refused without one', (t) => {
  const result = parseToSupervisorForJob(
    JSON.stringify({ type: 'start_job', message: { ...startMessage(), job_id: 'x' } }),
  );
  t.false(result.ok);
  t.false('jobId' in result);
});

test('a malformed parameter is refused without echoing its value', (t) => {
  const bad = {
    type: 'start_job',
    message: { ...startMessage(), parameters: { key: { value: 12345, secret: true } } },
  };
  const result = parseToSupervisorForJob(JSON.stringify(bad));
  t.false(result.ok);
  t.false(JSON.stringify(result).includes('12345'));
});

// -- tml-socket-config --

test("the socket config header is upstream's JSON with durations as strings", (t) => {
  t.is(
    encodeSocketConfig({ pingIntervalMs: 2000, keepaliveMs: 10_000 }),
    '{"keepalive":{"ping_interval":"2s","keepalive":"10s"}}',
  );
  t.is(
    encodeSocketConfig({ pingIntervalMs: 250, keepaliveMs: 1500 }),
    '{"keepalive":{"ping_interval":"250ms","keepalive":"1500ms"}}',
  );
});

test("durations are read as upstream's parser reads them", (t) => {
  for (const [text, ms] of [
    ['2s', 2000],
    ['10', 10_000],
    ['1.5s', 1500],
    ['500ms', 500],
    ['2000000Ms', 2000],
    ['1e3ms', 1000],
    ['1m', 60_000],
  ] as const) {
    t.is(parseWireDuration(text, 'x'), ms, text);
  }
  t.throws(() => parseWireDuration('2 seconds', 'ping_interval'), { message: /ping_interval must be a duration/ });
});

test('a socket config header parses to the keepalive; extra keys are ignored', (t) => {
  t.deepEqual(parseSocketConfig('{"keepalive":{"ping_interval":"2s","keepalive":"10s"},"version":2}'), {
    pingIntervalMs: 2000,
    keepaliveMs: 10_000,
  });
  t.throws(() => parseSocketConfig('{"keepalive":{"ping_interval":"2s"}}'), { instanceOf: ValidationError });
});

// -- tokens --

test('a 128-byte token is canonical padded base64, whether written with padding or without', (t) => {
  const padded = Buffer.alloc(128, 7).toString('base64');
  t.true(padded.endsWith('='));
  t.is(canonicalSupervisorToken(padded), padded);
  t.is(canonicalSupervisorToken(`${padded.replace(/=+$/, '')}\n`), padded);
  t.is(canonicalSupervisorToken(Buffer.alloc(32).toString('base64')), null);
  t.is(canonicalSupervisorToken(Buffer.alloc(128, 0xff).toString('base64url')), null);
  t.is(canonicalSupervisorToken(`${padded.slice(0, -2)}B=`), null, 'non-canonical trailing bits');
});

// -- every parser of untrusted input: a value or our ValidationError --

const validationOnly = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
  }
};

test('arbitrary JSON from a peer gives a message or a ValidationError, never another exception', (t) => {
  const body = fc.oneof(
    fc.json(),
    fc
      .record({
        type: fc.constantFrom('start_job', 'stop_job', 'status_request', 'status_response', 'supervisor_event'),
        message: fc.anything(),
      })
      .map((v) => JSON.stringify(v)),
  );
  fc.assert(
    fc.property(body, (text) => {
      validationOnly(() => parseToSupervisor(text));
      validationOnly(() => parseToSwitchboard(text));
      validationOnly(() => parseSocketConfig(text));
      parseToSupervisorForJob(text);
      canonicalSupervisorToken(text);
    }),
    { numRuns: 2000 },
  );
  t.pass();
});

const BAD_SUPERVISOR_MESSAGES: Array<[string, string, RegExp]> = [
  ['not JSON', '{', /not valid JSON/],
  ['an unknown type', '{"type":"reboot","message":{}}', /message.type must be one of/],
  [
    'a job event without a UUID',
    '{"type":"supervisor_event","message":{"type":"job_event","job_id":"x","event":{"type":"console_log","console_bytes":[]}}}',
    /job_id must be a UUID/,
  ],
  [
    'console bytes out of range',
    '{"type":"supervisor_event","message":{"type":"job_event","job_id":"11111111-2222-4333-8444-555555555555","event":{"type":"console_log","console_bytes":[256]}}}',
    /integers from 0 to 255/,
  ],
  [
    'an unknown stage',
    '{"type":"supervisor_event","message":{"type":"job_event","job_id":"11111111-2222-4333-8444-555555555555","event":{"type":"state_transition","new_state":{"state":"initializing","stage":"dancing"},"status_message":null}}}',
    /stage must be one of/,
  ],
  [
    'an unknown user exit status',
    '{"type":"supervisor_event","message":{"type":"job_event","job_id":"11111111-2222-4333-8444-555555555555","event":{"type":"declare_exit_status","user_exit_status":"great","host_output":null}}}',
    /user_exit_status must be one of/,
  ],
];

for (const [what, text, message] of BAD_SUPERVISOR_MESSAGES) {
  test(`a supervisor message with ${what} is refused`, (t) => {
    t.throws(() => parseToSwitchboard(text), { instanceOf: ValidationError, message });
  });
}

test('a well-formed status response parses', (t) => {
  const msg = parseToSwitchboard(
    JSON.stringify({
      type: 'status_response',
      message: {
        response_to_request_id: '11111111-2222-4333-8444-555555555555',
        message: { type: 'ongoing_job', job_id: '11111111-2222-4333-8444-555555555556', job_state: { state: 'ready' } },
      },
    }),
  );
  t.deepEqual(msg.message, {
    response_to_request_id: '11111111-2222-4333-8444-555555555555',
    message: { type: 'ongoing_job', job_id: '11111111-2222-4333-8444-555555555556', job_state: { state: 'ready' } },
  });
});

test("a job's start_job is built from its request with upstream's keys in serde's order", (t) => {
  const message = startJobMessage(JOB_ID, {
    init_spec: { type: 'resume_job', job_id: JOB_ID },
    ssh_keys: ['ssh-ed25519 AAAA me'],
    restart_policy: { remaining_restart_count: 1 },
    parameters: { k: { value: 'v', secret: true } },
  });
  t.is(
    JSON.stringify(message),
    `{"job_id":"${JOB_ID}","image_spec":{"type":"resume_job","job_id":"${JOB_ID}"},"ssh_keys":["ssh-ed25519 AAAA me"],` +
      `"restart_policy":{"remaining_restart_count":1},"ssh_rendezvous_servers":[],"parameters":{"k":{"value":"v","secret":true}}}`,
  );
});
