import test from 'ava';
import { API_PREFIX } from '../../../protocol/switchboard-api.js';
import { SESSION_COOKIE } from '../../../switchboard/web/plugin.js';
import { IMAGE_ID } from '../harness.js';
import { PASSWORD, startWeb, withWeb } from './web-harness.js';

const HOSTILE = `<script>alert("x")</script>'"&`;
const SECRET = 'hunter2-very-secret-value';

test('pages need a login: a page request is sent to the login form, a data request gets 401', (t) =>
  withWeb(async (h) => {
    const c = h.anonymous();
    const r = await c.get('/jobs?state=queued');
    t.is(r.statusCode, 303);
    t.is(r.headers.location, '/login?next=%2Fjobs%3Fstate%3Dqueued');
    const job = await h.job('alice');
    t.is((await c.get(`/jobs/${job}/console.json`)).statusCode, 401);
    t.is((await c.get(`/jobs/${job}/live`)).statusCode, 401);
    t.is((await c.get('/')).headers.location, '/jobs');
  }));

test('logging in through the form sets an HttpOnly SameSite session cookie and goes to the page asked for', (t) =>
  withWeb(async (h) => {
    const c = h.anonymous();
    const r = await c.submit('/login?next=/supervisors', '/login', {
      user: 'alice',
      password: PASSWORD,
      next: '/supervisors',
    });
    t.is(r.statusCode, 303);
    t.is(r.headers.location, '/supervisors');
    const cookie = ([] as string[])
      .concat(r.headers['set-cookie'] as string | string[])
      .find((s) => s.startsWith(`${SESSION_COOKIE}=`))!;
    t.regex(cookie, /HttpOnly/);
    t.regex(cookie, /SameSite=Lax/);
    const page = await c.get('/jobs');
    t.is(page.statusCode, 200);
    t.regex(page.body, /class="user">alice</);
    // The session is stored as a hash only.
    const token = c.cookies.get(SESSION_COOKIE)!;
    const rows = await h.sb.db.kysely.selectFrom('web_sessions').select('token_hash').execute();
    t.is(rows.length, 1);
    t.false(rows[0]!.token_hash.toString('latin1').includes(token));
  }));

test('a next parameter pointing elsewhere is ignored', (t) =>
  withWeb(async (h) => {
    for (const next of ['//evil.example/', 'https://evil.example/', '/\\evil.example']) {
      const r = await h.anonymous().submit('/login', '/login', { user: 'alice', password: PASSWORD, next });
      t.is(r.headers.location, '/jobs', next);
    }
  }));

test('a wrong password shows the form again with 401; an unknown user looks the same', (t) =>
  withWeb(async (h) => {
    for (const user of ['alice', 'nobody']) {
      const r = await h.anonymous().submit('/login', '/login', { user, password: 'wrong' });
      t.is(r.statusCode, 401);
      t.regex(r.body, /Wrong user name or password/);
    }
  }));

test('a login form without a valid CSRF token is refused', (t) =>
  withWeb(async (h) => {
    const c = h.anonymous();
    await c.get('/login');
    t.is((await c.post('/login', { user: 'alice', password: PASSWORD })).statusCode, 403);
    t.is((await c.post('/login', { user: 'alice', password: PASSWORD, _csrf: 'forged' })).statusCode, 403);
    t.false(c.cookies.has(SESSION_COOKIE));
  }));

test('login attempts are rate limited per address', (t) =>
  withWeb(
    async (h) => {
      const c = h.anonymous();
      const codes: number[] = [];
      for (let i = 0; i < 4; i++)
        codes.push((await c.submit('/login', '/login', { user: 'alice', password: 'nope' })).statusCode);
      t.deepEqual(codes, [401, 401, 401, 429]);
      const r = await c.submit('/login', '/login', { user: 'alice', password: PASSWORD });
      t.is(r.statusCode, 429);
      t.regex(r.body, /too many login attempts/);
    },
    { web: { loginAttemptsPerMinute: 3 } },
  ));

test('logging out revokes the session on the server, so the old cookie no longer works', (t) =>
  withWeb(async (h) => {
    const c = await h.login('alice');
    const token = c.cookies.get(SESSION_COOKIE)!;
    const r = await c.submit('/jobs', '/logout', {});
    t.is(r.statusCode, 303);
    t.false(c.cookies.has(SESSION_COOKIE));
    const replay = h.anonymous();
    replay.cookies.set(SESSION_COOKIE, token);
    t.is((await replay.get('/jobs')).statusCode, 303);
  }));

test('every page carries a strict Content-Security-Policy and is not cached', (t) =>
  withWeb(async (h) => {
    const c = await h.login('alice');
    const job = await h.job('alice');
    for (const url of ['/login', '/jobs', `/jobs/${job}`, '/supervisors', '/tokens']) {
      const r = await (url === '/login' ? h.anonymous() : c).get(url);
      t.is(r.statusCode, 200, url);
      const csp = String(r.headers['content-security-policy']);
      t.regex(csp, /default-src 'none'/, url);
      t.regex(csp, /script-src 'self'(;|$)/, url);
      t.regex(csp, /style-src 'self'(;|$)/, url);
      t.regex(csp, /frame-ancestors 'none'/, url);
      t.is(r.headers['x-content-type-options'], 'nosniff');
      t.is(r.headers['cache-control'], 'no-store');
      t.false(/<script>|<style|style="|\son[a-z]+=/i.test(r.body), `${url} has inline script or style`);
    }
  }));

test('the REST API is unaffected: it still wants its bearer token, not a session cookie', (t) =>
  withWeb(async (h) => {
    const c = await h.login('alice');
    t.is((await c.get(`${API_PREFIX}/jobs`)).statusCode, 401);
    t.is((await h.api(h.tokens.alice, 'GET', '/jobs')).status, 200);
    t.is((await h.api(null, 'GET', '/no-such-route')).status, 401);
  }));

test('a user lists their own jobs, newest first; an admin lists everyone', (t) =>
  withWeb(async (h) => {
    const a1 = await h.job('alice');
    const b1 = await h.job('bob');
    const a2 = await h.job('alice');
    const ids = (body: string) => [...body.matchAll(/href="\/jobs\/([0-9a-f-]{36})"/g)].map((m) => m[1]);
    t.deepEqual(ids((await (await h.login('alice')).get('/jobs')).body), [a2, a1]);
    t.deepEqual(ids((await (await h.login('bob')).get('/jobs')).body), [b1]);
    t.deepEqual(ids((await (await h.login('admin')).get('/jobs')).body), [a2, b1, a1]);
  }));

test('the job list filters by state, exit status, user, supervisor, tag, image and time', (t) =>
  withWeb(async (h) => {
    const other = await h.addSupervisor('bench-2', 'board:y;site:z');
    const queued = await h.job('alice');
    const canceled = await h.job('alice');
    await h.sb.scheduler.cancel(canceled, 'alice');
    const onY = await h.job('bob', { tag_config: 'board:y', init_spec: { type: 'image', image_id: 'cd'.repeat(32) } });
    await h.sb.jobs.apply(onY, { actor: 'switchboard', state: { to: 'scheduled', supervisorId: other.id } });
    const admin = await h.login('admin');
    const ids = async (q: string) => {
      const r = await admin.get(`/jobs?${q}`);
      t.is(r.statusCode, 200, q);
      return [...r.body.matchAll(/href="\/jobs\/([0-9a-f-]{36})"/g)].map((m) => m[1]);
    };
    t.deepEqual(await ids('state=queued'), [queued]);
    t.deepEqual(await ids('state=terminated&exit=job_canceled'), [canceled]);
    t.deepEqual(await ids('user=bob'), [onY]);
    t.deepEqual(await ids('supervisor=bench-2'), [onY]);
    t.deepEqual(await ids(`supervisor=${other.id}`), [onY]);
    t.deepEqual(await ids('tag=board:y'), [onY]);
    t.deepEqual(await ids('tag=board'), []);
    t.deepEqual(await ids('image=cdcd'), [onY]);
    t.deepEqual(await ids(`image=${IMAGE_ID.slice(0, 8)}`), [canceled, queued]);
    t.deepEqual(await ids('from=2000-01-01&until=2000-01-02'), []);
    t.is((await ids('from=2000-01-01')).length, 3);
    const bad = await admin.get('/jobs?state=running&tag=%3Cscript%3E');
    t.is(bad.statusCode, 400);
    t.regex(bad.body, /state must be one of/);
    t.false(bad.body.includes('<script>'));
  }));

test('the job list pages with a cursor, keeping the filters', (t) =>
  withWeb(
    async (h) => {
      const jobs: string[] = [];
      for (let i = 0; i < 5; i++) jobs.unshift(await h.job('alice'));
      await h.job('bob');
      const c = await h.login('alice');
      const seen: string[] = [];
      let url: string | null = '/jobs?state=queued';
      while (url) {
        const r = await c.get(url);
        seen.push(...[...r.body.matchAll(/href="\/jobs\/([0-9a-f-]{36})"/g)].map((m) => m[1]!));
        const next = /<a rel="next" href="([^"]+)"/.exec(r.body);
        url = next ? next[1]!.replace(/&amp;/g, '&') : null;
        if (url) t.regex(url, /state=queued/);
      }
      t.deepEqual(seen, jobs);
    },
    { web: { pageSize: 2 } },
  ));

test("another user's job is refused with 403 as in REST; an unknown one is 404", (t) =>
  withWeb(async (h) => {
    const job = await h.job('alice');
    const bob = await h.login('bob');
    for (const url of [
      `/jobs/${job}`,
      `/jobs/${job}/console.json`,
      `/jobs/${job}/console.log`,
      `/jobs/${job}/search?q=a`,
      `/jobs/${job}/live`,
    ])
      t.is((await bob.get(url)).statusCode, 403, url);
    t.is((await bob.get('/jobs/00000000-0000-4000-8000-000000000000')).statusCode, 404);
    t.is((await bob.get('/jobs/not-a-job')).statusCode, 404);
    t.is((await (await h.login('admin')).get(`/jobs/${job}`)).statusCode, 200);
  }));

test('the job page shows the request with secret values hidden, tags, supervisor and timeline', (t) =>
  withWeb(async (h) => {
    const job = await h.job('alice', {
      parameters: { token: { value: SECRET, secret: true }, 'plain.name': { value: 'visible-value', secret: false } },
      ssh_keys: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIexample alice@laptop'],
    });
    const sup = (await h.sb.db.supervisors())[0]!;
    await h.sb.jobs.apply(job, { actor: 'switchboard', state: { to: 'scheduled', supervisorId: sup.id } });
    await h.sb.jobs.apply(job, { actor: 'supervisor', state: { to: 'initializing', stage: 'booting' } });
    await h.sb.jobs.apply(job, { actor: 'supervisor', subState: { stage: 'booting', statusMessage: 'kernel loaded' } });
    const r = await (await h.login('alice')).get(`/jobs/${job}`);
    t.is(r.statusCode, 200);
    t.regex(r.body, /plain\.name/);
    t.regex(r.body, /visible-value/);
    t.regex(r.body, /secret, hidden/);
    t.false(r.body.includes(SECRET));
    t.regex(r.body, /<span class="tag">board:x<\/span>/);
    t.regex(r.body, new RegExp(`href="/supervisors/${sup.id}">bench-1<`));
    t.regex(
      r.body,
      /→ <b>queued<\/b>[\s\S]*→ <b>scheduled<\/b>[\s\S]*→ <b>initializing<\/b> <span class="stage">booting/,
    );
    t.regex(r.body, /id="substates">\s*<li[^>]*>[^]*?kernel loaded/);
    t.regex(r.body, /Cancel job/);
    t.regex(r.body, /Run again/);
  }));

test('hostile parameter names, tags, messages and console bytes are shown as text, and secrets nowhere', (t) =>
  withWeb(async (h) => {
    await h.addSupervisor('evil', `${HOSTILE};board:x`);
    const job = await h.job('alice', {
      tag_config: `board:x;${HOSTILE}`,
      parameters: { [HOSTILE]: { value: HOSTILE, secret: false }, key: { value: SECRET, secret: true } },
    });
    await h.sb.jobs.apply(job, {
      actor: 'switchboard',
      subState: { stage: null, statusMessage: `${HOSTILE} ${SECRET}` },
    });
    await h.sb.jobs.appendLog(
      job,
      Buffer.from(`\x1b[31m${HOSTILE}\x1b]8;;javascript:alert(1)\x07link\x1b[0m\nthe secret is ${SECRET}\n`),
    );
    const c = await h.login('alice');
    const bodies = [
      (await c.get(`/jobs/${job}`)).body,
      (await c.get(`/jobs?tag=${encodeURIComponent(HOSTILE)}`)).body,
      (await c.get(`/jobs/${job}/console.json`)).body,
      (await c.get(`/jobs/${job}/search?q=secret`)).body,
      (await c.get(`/jobs/${job}/search.json?q=${SECRET}`)).body,
      (await c.get(`/jobs/${job}/console.log`)).body,
      (await c.get('/supervisors')).body,
    ];
    await h.sb.scheduler.cancel(job, 'alice');
    bodies.push((await c.get(`/jobs/${job}/live?from=0`)).body);
    for (const b of bodies) t.false(b.includes(SECRET), 'no secret value');
    // The HTML pages (the others are JSON, SSE and the plain-text download, never parsed as HTML).
    for (const b of [bodies[0]!, bodies[1]!, bodies[3]!, bodies[6]!]) {
      t.false(b.includes('<script>alert'), 'no live markup');
      t.false(b.includes('javascript:'), 'no smuggled link');
    }
    t.true(bodies[0]!.includes('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39;&quot;&amp;'));
    t.regex(bodies[0]!, /the secret is \*\*\*/);
    t.regex(bodies[5]!, /the secret is \*\*\*/);
    t.deepEqual(JSON.parse(bodies[4]!).hits, []);
  }));

test('cancel and run again are forms with CSRF tokens; the owner and admins may use them, others not', (t) =>
  withWeb(async (h) => {
    const job = await h.job('alice');
    const bob = await h.login('bob');
    t.is((await bob.submit('/jobs', `/jobs/${job}/cancel`, {})).statusCode, 403);
    const alice = await h.login('alice');
    t.is((await alice.post(`/jobs/${job}/cancel`, {})).statusCode, 403, 'no CSRF token');
    t.is((await h.sb.jobs.get(job))!.state, 'queued');
    const r = await alice.submit(`/jobs/${job}`, `/jobs/${job}/cancel`, {});
    t.is(r.statusCode, 303);
    t.is((await h.sb.jobs.get(job))!.exit_status, 'job_canceled');
    const page = await alice.get(r.headers.location as string);
    t.regex(page.body, /being canceled/);
    t.notRegex(page.body, /Cancel job/);
    const again = await alice.submit(`/jobs/${job}`, `/jobs/${job}/rerun`, {});
    t.is(again.statusCode, 303);
    const newId = /\/jobs\/([0-9a-f-]{36})/.exec(again.headers.location as string)![1]!;
    t.not(newId, job);
    t.is((await h.sb.jobs.get(newId))!.owner_id, h.ids.alice);
    t.is((await h.sb.jobs.get(newId))!.state, 'queued');
    const admin = await h.login('admin');
    t.is((await admin.submit(`/jobs/${newId}`, `/jobs/${newId}/cancel`, {})).statusCode, 303);
  }));

test("an admin may not run again another user's job that has secrets", (t) =>
  withWeb(async (h) => {
    const job = await h.job('alice', { parameters: { k: { value: SECRET, secret: true } } });
    const admin = await h.login('admin');
    const page = await admin.get(`/jobs/${job}`);
    t.notRegex(page.body, /Run again/);
    t.regex(page.body, /Only its owner may run this job again/);
    t.is((await admin.submit(`/jobs/${job}`, `/jobs/${job}/rerun`, {})).statusCode, 403);
  }));

test('API tokens: created and shown once, listed, working against the REST API, revoked', (t) =>
  withWeb(async (h) => {
    const c = await h.login('alice');
    const before = { n: (await h.sb.db.tokens()).length };
    const r = await c.submit('/tokens', '/tokens', { expires: '7d' });
    t.is(r.statusCode, 200);
    const token = /<pre class="mono" id="new-token">([^<]+)<\/pre>/.exec(r.body)![1]!;
    t.is((await h.api(token, 'GET', '/jobs')).status, 200);
    const list = await c.get('/tokens');
    t.false(list.body.includes(token));
    const ids = [...list.body.matchAll(/action="\/tokens\/([0-9a-f]{64})\/revoke"/g)].map((m) => m[1]!);
    t.is(ids.length, 2, 'the harness token and the new one');
    t.is((await h.sb.db.tokens()).length, before.n + 1);
    for (const id of ids) t.is((await c.submit('/tokens', `/tokens/${id}/revoke`, {})).statusCode, 200);
    t.is((await h.api(token, 'GET', '/jobs')).status, 401);
    t.is((await (await h.login('bob')).submit('/tokens', `/tokens/${'0'.repeat(64)}/revoke`, {})).statusCode, 404);
    t.is((await c.submit('/tokens', '/tokens', { expires: 'forever' })).statusCode, 400);
  }));

test('supervisor pages show tags, connection, current job and recent jobs the viewer may see', (t) =>
  withWeb(async (h) => {
    const sup = (await h.sb.db.supervisors())[0]!;
    const mine = await h.job('alice');
    const theirs = await h.job('bob');
    for (const j of [mine, theirs])
      await h.sb.jobs.apply(j, { actor: 'switchboard', state: { to: 'scheduled', supervisorId: sup.id } });
    const c = await h.login('alice');
    const list = await c.get('/supervisors');
    t.regex(list.body, /bench-1/);
    t.regex(list.body, /<span class="tag">board:x<\/span>/);
    t.regex(list.body, /disconnected/);
    const one = await c.get(`/supervisors/${sup.id}`);
    t.is(one.statusCode, 200);
    t.true(one.body.includes(mine));
    t.false(one.body.includes(theirs));
    t.is((await c.get('/supervisors/00000000-0000-4000-8000-000000000000')).statusCode, 404);
  }));

test('the static script and stylesheets are served with long caching', (t) =>
  withWeb(async (h) => {
    const c = h.anonymous();
    const page = await c.get('/login');
    for (const m of page.body.matchAll(/(?:href|src)="(\/static\/[^"]+)"/g)) {
      const r = await c.get(m[1]!);
      t.is(r.statusCode, 200, m[1]);
      t.regex(String(r.headers['cache-control']), /immutable/);
    }
    t.regex((await c.get('/static/ansi.css')).body, /\.f196\{color:#ff0000\}/);
  }));

test('the web console can be turned off', async (t) => {
  const h = await startWeb({ web: false });
  try {
    t.is((await h.anonymous().get('/login')).statusCode, 401);
    t.is((await h.api(h.tokens.alice, 'GET', '/jobs')).status, 200);
  } finally {
    await h.close();
  }
});

test('users without a password cannot log in', async (t) => {
  const h = await startWeb();
  try {
    await h.sb.db.addUser('nopw', null, false);
    t.is((await h.anonymous().submit('/login', '/login', { user: 'nopw', password: '' })).statusCode, 401);
  } finally {
    await h.close();
  }
});
