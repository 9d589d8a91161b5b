import test from 'ava';
import fc from 'fast-check';
import {
  DEVICE_CODE_PATH,
  DEVICE_GRANT_TYPE,
  DEVICE_TOKEN_PATH,
  USER_CODE_ALPHABET,
  deviceErrorOf,
  normalizeUserCode,
  parseDeviceCodeRequest,
  parseDeviceCodeResponse,
  parseDeviceTokenRequest,
  parseDeviceTokenResponse,
} from '../../protocol/device-flow.js';
import { ValidationError } from '../../protocol/validation.js';
import { DeviceAuthorizations, type DeviceFlowConfig } from '../../switchboard/device-flow.js';
import { withWeb, type WebClient, type WebHarness } from './web/web-harness.js';

const CONFIG: DeviceFlowConfig = {
  lifetimeMs: 60_000,
  intervalMs: 5000,
  perAddress: 3,
  windowMs: 60_000,
  maxPending: 100,
};
const ALICE = { id: 'a1', name: 'alice' };

function flow(config: Partial<DeviceFlowConfig> = {}) {
  const clock = { now: 1_000_000 };
  return { clock, devices: new DeviceAuthorizations({ ...CONFIG, ...config }, () => clock.now) };
}

function started(devices: DeviceAuthorizations, address = '192.0.2.1') {
  const r = devices.start('tml 1.0 on laptop', address);
  if (!r.ok) throw new Error('start refused');
  return r;
}

test('a code is XXXX-XXXX of vowel-free letters, and the device code is long and random', (t) => {
  const { devices } = flow();
  const r = started(devices);
  t.regex(r.userCode, new RegExp(`^[${USER_CODE_ALPHABET}]{4}-[${USER_CODE_ALPHABET}]{4}$`));
  t.true(r.deviceCode.length >= 43);
  t.not(started(devices).deviceCode, r.deviceCode);
});

test('an approved code gives its user once; a second poll finds the code spent', (t) => {
  const { clock, devices } = flow();
  const r = started(devices);
  t.deepEqual(devices.poll(r.deviceCode), { kind: 'pending' });
  t.deepEqual(devices.request(r.userCode.toLowerCase().replace('-', ' ')), {
    userCode: r.userCode,
    clientId: 'tml 1.0 on laptop',
    address: '192.0.2.1',
    createdAt: 1_000_000,
    expiresAt: 1_060_000,
  });
  t.true(devices.approve(r.userCode, ALICE));
  t.false(devices.approve(r.userCode, ALICE), 'decided codes cannot be approved again');
  t.is(devices.request(r.userCode), null);
  clock.now += 5000;
  t.deepEqual(devices.poll(r.deviceCode), { kind: 'approved', user: ALICE });
  clock.now += 5000;
  t.deepEqual(devices.poll(r.deviceCode), { kind: 'invalid' });
});

test('a code never approved stays pending until it expires, then cannot be approved', (t) => {
  const { clock, devices } = flow();
  const r = started(devices);
  clock.now += 59_999;
  t.deepEqual(devices.poll(r.deviceCode), { kind: 'pending' });
  clock.now += 1;
  t.deepEqual(devices.poll(r.deviceCode), { kind: 'expired' });
  t.false(devices.approve(r.userCode, ALICE));
  t.is(devices.request(r.userCode), null);
});

test('a denied code tells the client once', (t) => {
  const { clock, devices } = flow();
  const r = started(devices);
  t.true(devices.deny(r.userCode));
  t.deepEqual(devices.poll(r.deviceCode), { kind: 'denied' });
  clock.now += 5000;
  t.deepEqual(devices.poll(r.deviceCode), { kind: 'invalid' });
});

test('polling faster than the interval is slow_down, and the interval grows by 5 s', (t) => {
  const { clock, devices } = flow();
  const r = started(devices);
  t.is(devices.poll(r.deviceCode).kind, 'pending');
  clock.now += 4999;
  t.is(devices.poll(r.deviceCode).kind, 'slow_down');
  clock.now += 9999;
  t.is(devices.poll(r.deviceCode).kind, 'slow_down', 'now 10 s are needed');
  clock.now += 15_000;
  t.is(devices.poll(r.deviceCode).kind, 'pending');
});

test('an unknown device code is invalid; an unknown or malformed user code finds nothing', (t) => {
  const { devices } = flow();
  started(devices);
  t.deepEqual(devices.poll('nope'), { kind: 'invalid' });
  t.is(devices.request('BCDF-GHJK'), null);
  t.is(devices.request('<script>'), null);
  t.false(devices.approve('', ALICE));
});

test('codes are handed out at a bounded rate per address, and again after the window', (t) => {
  const { clock, devices } = flow();
  for (let i = 0; i < 3; i++) started(devices, '192.0.2.9');
  t.deepEqual(devices.start('x', '192.0.2.9'), { ok: false, retryAfterMs: 60_000 });
  t.true(devices.start('x', '192.0.2.10').ok);
  clock.now += 60_000;
  t.true(devices.start('x', '192.0.2.9').ok);
});

test('no more than maxPending codes wait at once; expired ones are forgotten in time', (t) => {
  const { clock, devices } = flow({ maxPending: 2, perAddress: 100 });
  started(devices);
  started(devices);
  t.false(devices.start('x', '192.0.2.1').ok);
  clock.now += 2 * 60_000;
  t.true(devices.start('x', '192.0.2.1').ok);
});

test('user codes are read in any case, with dashes and spaces anywhere; others are refused', (t) => {
  t.is(normalizeUserCode('bcdf-ghjk'), 'BCDF-GHJK');
  t.is(normalizeUserCode(' BC DF GH JK '), 'BCDF-GHJK');
  t.is(normalizeUserCode('BCDFGHJ'), null);
  t.is(normalizeUserCode('ABCD-EFGH'), null, 'vowels are not in the alphabet');
  fc.assert(
    fc.property(fc.string({ maxLength: 80 }), (s) => {
      const n = normalizeUserCode(s);
      return n === null || (/^[A-Z]{4}-[A-Z]{4}$/.test(n) && normalizeUserCode(n) === n);
    }),
  );
});

test('device-flow parsers give a value or a ValidationError for any input; deviceErrorOf never throws', (t) => {
  fc.assert(
    fc.property(fc.anything(), (v) => {
      for (const parse of [
        parseDeviceCodeRequest,
        parseDeviceTokenRequest,
        parseDeviceCodeResponse,
        parseDeviceTokenResponse,
      ]) {
        try {
          parse(v);
        } catch (err) {
          if (!(err instanceof ValidationError)) return false;
        }
      }
      return true;
    }),
  );
  fc.assert(
    fc.property(fc.anything(), (v) => deviceErrorOf(v) === null || typeof deviceErrorOf(v)!.error === 'string'),
  );
  t.throws(() => parseDeviceCodeRequest({ client_id: 'a\u0007b' }), { message: /control characters/ });
  t.deepEqual(deviceErrorOf({ error: 'slow_down' }), { error: 'slow_down', error_description: '' });
  t.is(deviceErrorOf({ error: 'teapot' }), null);
});

// -- through the switchboard: the REST endpoints and the web console's page --

async function startCode(h: WebHarness, remoteAddress = '203.0.113.5') {
  const r = await h.sb.app.inject({
    method: 'POST',
    url: DEVICE_CODE_PATH,
    remoteAddress,
    headers: { 'content-type': 'application/json', host: 'sb.example:8080' },
    payload: JSON.stringify({ client_id: 'tml <b>0.1</b> on "laptop"' }),
  });
  return { status: r.statusCode, json: r.json(), headers: r.headers };
}

async function pollToken(h: WebHarness, deviceCode: string, form = false) {
  const body = { grant_type: DEVICE_GRANT_TYPE, device_code: deviceCode, client_id: 'tml' };
  const r = await h.sb.app.inject({
    method: 'POST',
    url: DEVICE_TOKEN_PATH,
    headers: { 'content-type': form ? 'application/x-www-form-urlencoded' : 'application/json' },
    payload: form ? new URLSearchParams(body).toString() : JSON.stringify(body),
  });
  return { status: r.statusCode, json: r.json() };
}

async function approve(c: WebClient, userCode: string, action: 'approve' | 'deny' = 'approve') {
  return c.submit(`/device?code=${userCode}`, `/device/${action}`, { code: userCode });
}

const fast = { deviceFlow: { intervalMs: 1 } };

test('the code endpoint answers RFC 8628 fields, with the URLs of the web console page', (t) =>
  withWeb(async (h) => {
    const r = await startCode(h);
    t.is(r.status, 200);
    t.deepEqual(Object.keys(r.json), [
      'device_code',
      'user_code',
      'verification_uri',
      'verification_uri_complete',
      'expires_in',
      'interval',
    ]);
    t.is(r.json.verification_uri, 'http://sb.example:8080/device');
    t.is(r.json.verification_uri_complete, `http://sb.example:8080/device?code=${r.json.user_code}`);
    t.is(r.json.expires_in, 600);
    t.is(r.json.interval, 5);
    t.is(r.headers['cache-control'], 'no-store');
  }));

test('approved on the page by a logged-in user, the code gives a working token of that user once', (t) =>
  withWeb(async (h) => {
    const code = (await startCode(h)).json;
    t.deepEqual((await pollToken(h, code.device_code)).json.error, 'authorization_pending');
    const alice = await h.login('alice');
    const page = await alice.get(`/device?code=${code.user_code.toLowerCase()}`);
    t.is(page.statusCode, 200);
    // Which client asked and from where, escaped like every value on a page.
    t.true(page.body.includes('tml &lt;b&gt;0.1&lt;/b&gt; on &quot;laptop&quot;'));
    t.true(page.body.includes('203.0.113.5'));
    t.true(page.body.includes(code.user_code));
    const done = await approve(alice, code.user_code);
    t.is(done.statusCode, 200);
    t.regex(done.body, /Device approved/);
    const r = await pollToken(h, code.device_code, true);
    t.is(r.status, 200);
    t.is(r.json.token_type, 'Bearer');
    t.is(r.json.user, 'alice');
    t.true(r.json.expires_in > 0);
    const jobs = await h.api(r.json.access_token, 'GET', '/jobs');
    t.is(jobs.status, 200);
    const again = await pollToken(h, code.device_code);
    t.is(again.status, 400);
    t.is(again.json.error, 'invalid_grant');
  }, fast));

test('a denied code gives access_denied; a code of nobody is refused on the page with 404', (t) =>
  withWeb(async (h) => {
    const code = (await startCode(h)).json;
    const bob = await h.login('bob');
    t.is((await approve(bob, code.user_code, 'deny')).statusCode, 200);
    t.is((await pollToken(h, code.device_code)).json.error, 'access_denied');
    const unknown = await bob.get('/device?code=BCDF-GHJK');
    t.is(unknown.statusCode, 404);
    t.regex(unknown.body, /No login is waiting under that code/);
  }, fast));

test('the device page needs a login and sends the visitor back to it afterwards', (t) =>
  withWeb(async (h) => {
    const r = await h.anonymous().get('/device?code=BCDF-GHJK');
    t.is(r.statusCode, 303);
    t.is(r.headers.location, `/login?next=${encodeURIComponent('/device?code=BCDF-GHJK')}`);
  }));

test('approving needs the CSRF token of the session', (t) =>
  withWeb(async (h) => {
    const code = (await startCode(h)).json;
    const alice = await h.login('alice');
    t.is((await alice.post('/device/approve', { code: code.user_code })).statusCode, 403);
    t.is((await pollToken(h, code.device_code)).json.error, 'authorization_pending');
  }, fast));

test('wrong codes on the page are limited per user, with 429 and Retry-After', (t) =>
  withWeb(async (h) => {
    const alice = await h.login('alice');
    for (let i = 0; i < 10; i++) t.is((await alice.get('/device?code=BCDF-GHJK')).statusCode, 404);
    const code = (await startCode(h)).json;
    const r = await alice.get(`/device?code=${code.user_code}`);
    t.is(r.statusCode, 429);
    t.regex(r.body, /too many wrong device codes/);
    t.truthy(r.headers['retry-after']);
  }));

test('too many codes from one address: 429 too_many_requests with Retry-After', (t) =>
  withWeb(
    async (h) => {
      t.is((await startCode(h)).status, 200);
      t.is((await startCode(h)).status, 200);
      const r = await startCode(h);
      t.is(r.status, 429);
      t.is(r.json.error, 'too_many_requests');
      t.truthy(r.headers['retry-after']);
      t.is((await startCode(h, '203.0.113.6')).status, 200);
    },
    { deviceFlow: { perAddress: 2 } },
  ));

test('malformed token requests are invalid_request or unsupported_grant_type, never a 500', (t) =>
  withWeb(async (h) => {
    const post = async (payload: string) =>
      h.sb.app.inject({
        method: 'POST',
        url: DEVICE_TOKEN_PATH,
        headers: { 'content-type': 'application/json' },
        payload,
      });
    const bad = await post('{"device_code": 1}');
    t.is(bad.statusCode, 400);
    t.is(bad.json().error, 'invalid_request');
    const grant = await post(JSON.stringify({ grant_type: 'password', device_code: 'x', client_id: 'tml' }));
    t.is(grant.json().error, 'unsupported_grant_type');
    t.is((await post('not json')).json().error, 'invalid_request');
  }));
