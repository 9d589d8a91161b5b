import test from 'ava';
import { ValidationError } from '../../protocol/validation.js';
import { parseToSwitchboard } from '../../protocol/switchboard-ws.js';
import {
  bearerToken,
  hashPassword,
  isWellFormedToken,
  newToken,
  tokenMatches,
  verifyPassword,
} from '../../switchboard/auth.js';
import { parseDuration } from '../../protocol/duration.js';
import { EXIT_CODES, bookName } from '../../tml/outcome.js';

for (const [text, ms] of [
  ['90', 90_000],
  ['90s', 90_000],
  ['5m', 300_000],
  ['2h', 7_200_000],
  ['1d', 86_400_000],
  ['250ms', 250],
  ['1.5s', 1500],
] as const) {
  test(`duration "${text}" is ${ms} ms`, (t) => t.is(parseDuration(text), ms));
}

for (const bad of ['', 'm', '5 minutes', '-1s', '1w', '1e3']) {
  test(`duration "${bad}" is refused with a clear message`, (t) => {
    t.throws(() => parseDuration(bad), { message: /invalid duration/ });
  });
}

test('passwords verify against their scrypt hash only', async (t) => {
  const h = hashPassword('correct horse');
  t.regex(h, /^scrypt\$16384\$8\$1\$/);
  t.true(await verifyPassword('correct horse', h));
  t.false(await verifyPassword('correct horsf', h));
  t.false(await verifyPassword('x', 'garbage'));
});

test("tokens are upstream's 128 random bytes in padded standard base64, stored as their SHA-256", (t) => {
  const a = newToken();
  const b = newToken();
  t.is(Buffer.from(a.token, 'base64').length, 128);
  t.regex(a.token, /^[A-Za-z0-9+/]{171}=$/);
  t.true(isWellFormedToken(a.token));
  t.not(a.token, b.token);
  t.is(a.hash.length, 32);
  t.true(tokenMatches(a.token, a.hash));
  t.false(tokenMatches(b.token, a.hash));
});

test('only the canonical base64 of exactly 128 bytes is a well-formed token', (t) => {
  const bytes = Buffer.alloc(128, 7);
  t.true(isWellFormedToken(bytes.toString('base64')));
  t.false(isWellFormedToken(bytes.toString('base64url')));
  t.false(isWellFormedToken(bytes.toString('base64').replace(/=$/, '')));
  t.false(isWellFormedToken(Buffer.alloc(127).toString('base64')));
  t.false(isWellFormedToken(Buffer.alloc(129).toString('base64')));
  // Non-zero bits after the last byte decode to the same bytes but are not canonical.
  const canonical = bytes.toString('base64');
  t.false(isWellFormedToken(`${canonical.slice(0, -2)}x=`));
});

test('bearer tokens come only from a well-formed Authorization header', (t) => {
  t.is(bearerToken('Bearer abc'), 'abc');
  t.is(bearerToken('bearer abc '), 'abc');
  t.is(bearerToken('Basic abc'), null);
  t.is(bearerToken('Bearer a b'), null);
  t.is(bearerToken(undefined), null);
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

test('every job outcome has its own tml exit code', (t) => {
  const codes = Object.values(EXIT_CODES);
  t.is(new Set(codes).size, codes.length);
  t.is(EXIT_CODES.workload_finished_success, 0);
});

test("exit statuses print with the book's names", (t) => {
  t.is(bookName('workload_finished_success'), 'WorkloadFinishedSuccess');
  t.is(bookName('supervisor_dropped_job'), 'SupervisorDroppedJob');
  t.is(bookName('supervisor_host_start_failure'), 'SupervisorHostStartError');
});
