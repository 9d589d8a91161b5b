import test from 'ava';
import { LoginLimits, limitMessage, retryAfterSeconds, type LoginLimitConfig } from '../../switchboard/login-limits.js';
import { PASSWORD, withWeb } from './web/web-harness.js';

const CONFIG: LoginLimitConfig = { perUser: 3, perAddress: 5, windowMs: 60_000, maxTracked: 100 };

function limits(config: Partial<LoginLimitConfig> = {}) {
  const clock = { now: 1_000_000 };
  return { clock, limits: new LoginLimits({ ...CONFIG, ...config }, () => clock.now) };
}

test('a user is blocked after perUser failures until the window ends, from any address', (t) => {
  const { clock, limits: l } = limits();
  for (let i = 0; i < 3; i++) {
    t.true(l.check('alice', `10.0.0.${i}`).ok);
    l.failed('alice', `10.0.0.${i}`);
  }
  t.deepEqual(l.check('alice', '10.9.9.9'), { ok: false, by: 'user', retryAfterMs: 60_000 });
  t.true(l.check('bob', '10.9.9.9').ok);
  clock.now += 59_999;
  t.false(l.check('alice', '10.9.9.9').ok);
  clock.now += 1;
  t.true(l.check('alice', '10.9.9.9').ok);
});

test('an address is blocked after perAddress failures, whichever users it tries', (t) => {
  const { clock, limits: l } = limits();
  for (let i = 0; i < 5; i++) l.failed(`user${i}`, '192.0.2.1');
  clock.now += 10_000;
  t.deepEqual(l.check('someone-new', '192.0.2.1'), { ok: false, by: 'address', retryAfterMs: 50_000 });
  t.true(l.check('someone-new', '192.0.2.2').ok);
});

test('a successful login ends the user count but not the address count', (t) => {
  const { limits: l } = limits();
  for (let i = 0; i < 2; i++) l.failed('alice', '192.0.2.1');
  l.succeeded('alice');
  for (let i = 0; i < 2; i++) l.failed('alice', '192.0.2.1');
  t.true(l.check('alice', '192.0.2.3').ok, 'two failures since the success, under perUser');
  l.failed('alice', '192.0.2.1');
  t.deepEqual(l.check('x', '192.0.2.1'), { ok: false, by: 'address', retryAfterMs: 60_000 });
});

test('user identifiers differing only in case or surrounding space share one count', (t) => {
  const { limits: l } = limits();
  l.failed('Alice@Example.org', 'a');
  l.failed('alice@example.org ', 'b');
  l.failed('ALICE@EXAMPLE.ORG', 'c');
  t.false(l.check('alice@example.org', 'd').ok);
});

test('the tracked entries stay bounded: past maxTracked the oldest are forgotten', (t) => {
  const { clock, limits: l } = limits({ maxTracked: 2, perUser: 1, perAddress: 100 });
  l.failed('u1', 'a');
  clock.now += 1;
  l.failed('u2', 'a');
  clock.now += 1;
  l.failed('u3', 'a');
  t.true(l.check('u1', 'a').ok, 'u1 was evicted');
  t.false(l.check('u2', 'a').ok);
  t.false(l.check('u3', 'a').ok);
});

test('Retry-After is whole seconds rounded up, never 0; the message names the limit and the wait', (t) => {
  t.is(retryAfterSeconds(1), 1);
  t.is(retryAfterSeconds(1000), 1);
  t.is(retryAfterSeconds(1001), 2);
  t.is(
    limitMessage({ by: 'user', retryAfterMs: 14 * 60_000 }),
    'too many failed logins for this user; try again in 14 minutes',
  );
  t.is(
    limitMessage({ by: 'address', retryAfterMs: 30_000 }),
    'too many failed logins from this address; try again in 30 seconds',
  );
});

const login = (password: string, user = 'alice', remoteAddress = '127.0.0.1') => ({
  method: 'POST' as const,
  url: '/api/v1/tokens/login',
  remoteAddress,
  headers: { 'content-type': 'application/json' },
  payload: JSON.stringify({ user_identifier: user, password }),
});

test('REST login failures are limited per user with a 429 too_many_requests and Retry-After', (t) =>
  withWeb(
    async (h) => {
      const statuses: number[] = [];
      for (let i = 0; i < 3; i++)
        statuses.push((await h.sb.app.inject(login('wrong', 'alice', `10.0.0.${i}`))).statusCode);
      t.deepEqual(statuses, [403, 403, 403]);
      const r = await h.sb.app.inject(login(PASSWORD, 'alice', '10.0.0.9'));
      t.is(r.statusCode, 429);
      t.is(r.json().type, 'too_many_requests');
      t.regex(r.json().message, /too many failed logins for this user; try again in \d+ (seconds|minutes)/);
      const after = Number(r.headers['retry-after']);
      t.true(after > 0 && after <= 60, `retry-after ${after}`);
      t.is((await h.sb.app.inject(login(PASSWORD, 'bob', '10.0.0.9'))).statusCode, 200);
    },
    { loginLimits: { perUser: 3, perAddress: 100, windowMs: 60_000 } },
  ));

test('REST login failures are limited per client address', (t) =>
  withWeb(
    async (h) => {
      for (const user of ['alice', 'bob', 'nobody']) await h.sb.app.inject(login('wrong', user, '198.51.100.7'));
      const r = await h.sb.app.inject(login(PASSWORD, 'admin', '198.51.100.7'));
      t.is(r.statusCode, 429);
      t.regex(r.json().message, /from this address/);
      t.truthy(r.headers['retry-after']);
      t.is((await h.sb.app.inject(login(PASSWORD, 'admin', '198.51.100.8'))).statusCode, 200);
    },
    { loginLimits: { perUser: 100, perAddress: 3, windowMs: 60_000 } },
  ));

test('failures on the web form and on the REST login count together', (t) =>
  withWeb(
    async (h) => {
      await h.sb.app.inject(login('wrong'));
      const c = h.anonymous();
      t.is((await c.submit('/login', '/login', { user: 'alice', password: 'wrong' })).statusCode, 401);
      const web = await c.submit('/login', '/login', { user: 'alice', password: PASSWORD });
      t.is(web.statusCode, 429);
      t.regex(web.body, /too many failed logins for this user/);
      t.truthy(web.headers['retry-after']);
      t.is((await h.sb.app.inject(login(PASSWORD))).statusCode, 429);
    },
    { loginLimits: { perUser: 2, perAddress: 100, windowMs: 60_000 } },
  ));
