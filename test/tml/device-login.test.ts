// tml login --device: the client's polling on a fake transport and clock, then end to end
// against a real tml-switchboard process, approved through the web console over HTTP.

import test from 'ava';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DEVICE_CODE_PATH,
  DEVICE_GRANT_TYPE,
  DEVICE_TOKEN_PATH,
  type DeviceCodeResponse,
} from '../../protocol/device-flow.js';
import { deviceLogin, DeviceLoginError, type DeviceLoginDeps } from '../../tml/device-login.js';
import { adminOk, serve, type ServeProcess } from '../switchboard/process.js';
import { makeHome, runTml } from './spawn.js';

// -- the client on a fake transport --

const CODE: DeviceCodeResponse = {
  device_code: 'dev-code',
  user_code: 'BCDF-GHJK',
  verification_uri: 'http://sb/device',
  verification_uri_complete: 'http://sb/device?code=BCDF-GHJK',
  expires_in: 600,
  interval: 5,
};
const TOKEN = {
  access_token: 'tok',
  token_type: 'Bearer',
  expires_in: 3600,
  expires_at: '2026-05-01T13:00:00.000Z',
  user: 'alice',
};
const err = (error: string) => ({ status: 400, body: { error, error_description: `said ${error}` } });

function fakeDeps(tokenAnswers: Array<{ status: number; body: unknown }>, codeAnswer = { status: 200, body: CODE }) {
  const clock = { now: 0 };
  const sleeps: number[] = [];
  const posts: Array<[string, unknown]> = [];
  const shown: DeviceCodeResponse[] = [];
  const deps: DeviceLoginDeps = {
    url: 'http://sb',
    clientId: 'tml test',
    post: async (path, body) => {
      posts.push([path, body]);
      if (path === DEVICE_CODE_PATH) return codeAnswer;
      const next = tokenAnswers.shift();
      if (!next) throw new Error('polled after the last answer');
      return next;
    },
    sleep: async (ms) => {
      sleeps.push(ms);
      clock.now += ms;
    },
    now: () => clock.now,
    show: (c) => shown.push(c),
  };
  return { deps, sleeps, posts, shown };
}

test('the client shows the code, waits the interval between polls and returns the token', async (t) => {
  const f = fakeDeps([err('authorization_pending'), err('authorization_pending'), { status: 200, body: TOKEN }]);
  t.deepEqual(await deviceLogin(f.deps), TOKEN);
  t.deepEqual(f.shown, [CODE]);
  t.deepEqual(f.sleeps, [5000, 5000, 5000]);
  t.deepEqual(f.posts[0], [DEVICE_CODE_PATH, { client_id: 'tml test' }]);
  t.deepEqual(f.posts[1], [
    DEVICE_TOKEN_PATH,
    { grant_type: DEVICE_GRANT_TYPE, device_code: 'dev-code', client_id: 'tml test' },
  ]);
});

test('slow_down makes the client wait 5 s longer from then on', async (t) => {
  const f = fakeDeps([err('slow_down'), err('authorization_pending'), { status: 200, body: TOKEN }]);
  await deviceLogin(f.deps);
  t.deepEqual(f.sleeps, [5000, 10_000, 10_000]);
});

test('a denied, expired or spent code ends the login with a message saying so', async (t) => {
  const cases: Array<[string, RegExp]> = [
    ['access_denied', /^the login was denied on the web console$/],
    ['expired_token', /^the code expired before it was approved; run tml login --device again$/],
    ['invalid_grant', /^http:\/\/sb refused the login: invalid_grant: said invalid_grant$/],
  ];
  for (const [code, message] of cases) {
    const f = fakeDeps([err('authorization_pending'), err(code)]);
    await t.throwsAsync(deviceLogin(f.deps), { instanceOf: DeviceLoginError, message }, code);
  }
});

test('a switchboard that never says expired is given up on after the code lifetime', async (t) => {
  const f = fakeDeps(Array.from({ length: 200 }, () => err('authorization_pending')));
  await t.throwsAsync(deviceLogin(f.deps), { message: /the code expired/ });
  t.true(f.sleeps.length <= 122, `${f.sleeps.length} polls`);
});

test('a switchboard without device login is named as such', async (t) => {
  const f = fakeDeps([], { status: 404, body: { type: 'not_found', message: 'no route' } as never });
  await t.throwsAsync(deviceLogin(f.deps), { message: /has no device login/ });
});

// -- end to end: a real switchboard, the web console over HTTP --

interface Served {
  sb: ServeProcess;
  dir: string;
}

async function startSwitchboard(extra: string[] = []): Promise<Served> {
  const dir = mkdtempSync(join(tmpdir(), 'tml-device-'));
  const db = join(dir, 'sb.sqlite');
  adminOk(['user', 'add', 'alice', '--password-stdin', '--db', db], 'pw-alice\n');
  return { sb: await serve(db, extra), dir };
}

async function stop(s: Served): Promise<void> {
  s.sb.child.kill('SIGTERM');
  await s.sb.exited;
  rmSync(s.dir, { recursive: true, force: true });
}

/** A browser's cookies and the CSRF token of the last page, over real HTTP. */
class Browser {
  private readonly cookies = new Map<string, string>();
  constructor(private readonly base: string) {}

  private async fetch(path: string, init: RequestInit = {}): Promise<{ status: number; body: string }> {
    const res = await fetch(`${this.base}${path}`, {
      ...init,
      redirect: 'manual',
      headers: {
        ...(init.headers as Record<string, string>),
        cookie: [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; '),
      },
    });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const at = pair!.indexOf('=');
      this.cookies.set(pair!.slice(0, at), pair!.slice(at + 1));
    }
    return { status: res.status, body: await res.text() };
  }

  get(path: string) {
    return this.fetch(path);
  }

  /** Loads `page` and submits its form's CSRF token with `form` to `action`. */
  async submit(page: string, action: string, form: Record<string, string>) {
    const p = await this.get(page);
    const csrf = /name="_csrf" value="([^"]+)"/.exec(p.body)?.[1];
    if (!csrf) throw new Error(`no CSRF token on ${page}: ${p.status}`);
    return this.fetch(action, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ _csrf: csrf, ...form }).toString(),
    });
  }

  static async loggedIn(base: string): Promise<Browser> {
    const b = new Browser(base);
    const r = await b.submit('/login', '/login', { user: 'alice', password: 'pw-alice' });
    if (r.status !== 303) throw new Error(`login failed: ${r.status}`);
    return b;
  }
}

async function postJson(base: string, path: string, body: unknown) {
  const res = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Record<string, any> };
}

test('tml login --device: code shown, approved on the web page, token saved and working', async (t) => {
  const s = await startSwitchboard();
  const home = makeHome();
  t.teardown(async () => {
    home.cleanup();
    await stop(s);
  });
  let approved: Promise<{ status: number; body: string }> | null = null;
  const r = await runTml(['-u', s.sb.url, 'login', '--device'], home, {
    onSpawn: (child) => {
      let err = '';
      child.stderr!.on('data', (d: Buffer) => {
        err += d.toString();
        const m = /\n {2}(http:\/\/\S+\/device\?code=([A-Z]{4}-[A-Z]{4}))\n/.exec(err);
        if (m && !approved) {
          const page = new URL(m[1]!);
          approved = Browser.loggedIn(s.sb.url).then(async (b) => {
            const shown = await b.get(`${page.pathname}${page.search}`);
            t.true(shown.body.includes(`tml `), 'the page names the client');
            t.true(shown.body.includes('127.0.0.1'), 'and the address it asked from');
            return b.submit(`${page.pathname}${page.search}`, '/device/approve', { code: m[2]! });
          });
        }
      });
    },
  });
  t.truthy(approved, r.stderr);
  t.is((await approved!)!.status, 200);
  t.is(r.status, 0, r.stderr);
  t.regex(r.stderr, /and check that it shows the code [A-Z]{4}-[A-Z]{4} \(valid for 10 minutes\)/);
  t.regex(r.stdout, /^logged in to http:\/\/127\.0\.0\.1:\d+ as alice; the token expires at \d{4}-/);
  const token = JSON.parse(readFileSync(join(home.dataDir, 'token.json'), 'utf8')) as string;
  t.regex(token, /^[A-Za-z0-9+/]{171}=$/);
  const who = await runTml(['-u', s.sb.url, 'whoami'], home);
  t.is(who.status, 0, who.stderr);
  t.regex(who.stdout, /user +alice\n/);
  t.regex(who.stdout, /accepted +yes\n/);
});

test('a code used once, or never approved, gives no token from a real switchboard', async (t) => {
  const s = await startSwitchboard();
  t.teardown(() => stop(s));
  const base = s.sb.url;
  const code = (await postJson(base, DEVICE_CODE_PATH, { client_id: 'script' })).json;
  const poll = () =>
    postJson(base, DEVICE_TOKEN_PATH, { grant_type: DEVICE_GRANT_TYPE, device_code: code.device_code, client_id: 'x' });
  const pending = await poll();
  t.is(pending.status, 400);
  t.is(pending.json.error, 'authorization_pending');
  t.is(pending.json.access_token, undefined);
  const b = await Browser.loggedIn(base);
  t.is((await b.submit(`/device?code=${code.user_code}`, '/device/approve', { code: code.user_code })).status, 200);
  // The interval (5 s) is the switchboard's to enforce between polls of one code.
  await new Promise((resolve) => setTimeout(resolve, code.interval * 1000));
  const granted = await poll();
  t.is(granted.status, 200);
  const jobs = await fetch(`${base}/api/v1/jobs`, {
    headers: { authorization: `Bearer ${granted.json.access_token}` },
  });
  t.is(jobs.status, 200);
  const reused = await poll();
  t.is(reused.status, 400);
  t.is(reused.json.error, 'invalid_grant');
  const again = await b.get(`/device?code=${code.user_code}`);
  t.is(again.status, 404);
});

test('an expired code: tml says so and exits 1, and the page and the token endpoint refuse it', async (t) => {
  const s = await startSwitchboard(['--device-code-lifetime', '2s']);
  const home = makeHome();
  t.teardown(async () => {
    home.cleanup();
    await stop(s);
  });
  const base = s.sb.url;
  const code = (await postJson(base, DEVICE_CODE_PATH, { client_id: 'script' })).json;
  t.is(code.expires_in, 2);
  const cli = runTml(['-u', base, 'login', '--device'], home);
  await new Promise((resolve) => setTimeout(resolve, 2100));
  const b = await Browser.loggedIn(base);
  t.is((await b.get(`/device?code=${code.user_code}`)).status, 404);
  const expired = await postJson(base, DEVICE_TOKEN_PATH, {
    grant_type: DEVICE_GRANT_TYPE,
    device_code: code.device_code,
    client_id: 'x',
  });
  t.is(expired.status, 400);
  t.is(expired.json.error, 'expired_token');
  const r = await cli;
  t.is(r.status, 1);
  t.regex(r.stderr, /tml: the code expired before it was approved; run tml login --device again\n$/);
});

test('tml login --device with a user or password is a usage error, before any request', async (t) => {
  const home = makeHome();
  t.teardown(() => home.cleanup());
  const r = await runTml(['-u', 'http://127.0.0.1:9', 'login', '--device', 'alice'], home);
  t.is(r.status, 2);
  t.is(r.stderr, 'tml: --device takes no user or password: the web console knows who approves\n');
});
