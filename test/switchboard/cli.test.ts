import test from 'ava';
import { join } from 'node:path';
import { tempDir } from './harness.js';
import { admin, adminOk, serve } from './process.js';

function freshDb(): { db: string; cleanup: () => void } {
  const { dir, cleanup } = tempDir();
  return { db: join(dir, 'sb.sqlite'), cleanup };
}

test('supervisor add --json prints its id and token, and supervisor list shows it', (t) => {
  const { db, cleanup } = freshDb();
  const added = JSON.parse(adminOk(['supervisor', 'add', 'rpi-1', '--db', db, '--tags', 'board:x; site:y', '--json']));
  t.deepEqual(Object.keys(added), ['id', 'token']);
  t.regex(added.token, /^[A-Za-z0-9+/]{171}=$/);
  const list = JSON.parse(adminOk(['supervisor', 'list', '--db', db, '--json']));
  t.is(list.length, 1);
  t.like(list[0], { id: added.id, name: 'rpi-1', tags: ['board:x', 'site:y'] });
  t.false(JSON.stringify(list).includes(added.token));
  t.regex(adminOk(['supervisor', 'list', '--db', db]), new RegExp(`^${added.id}  rpi-1  board:x;site:y$`));
  cleanup();
});

test('token create prints only the token', (t) => {
  const { db, cleanup } = freshDb();
  adminOk(['user', 'add', 'alice', '--db', db]);
  const out = admin(['token', 'create', '--db', db, '--user', 'alice', '--expires', '2h']);
  t.is(out.status, 0);
  t.regex(out.stdout, /^[A-Za-z0-9+/]{171}=\n$/);
  t.is(Buffer.from(out.stdout.trim(), 'base64').length, 128);
  cleanup();
});

test('user add --email lets the user log in by e-mail address', async (t) => {
  const { db, cleanup } = freshDb();
  const added = admin(['user', 'add', 'dave', '--email', 'dave@example.org', '--password-stdin', '--db', db], 'pw\n');
  t.is(added.status, 0, added.stderr);
  t.regex(added.stderr, /^added user dave <dave@example.org> \(/);
  const s = await serve(db);
  try {
    const res = await fetch(`${s.url}/api/v1/tokens/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user_identifier: 'dave@example.org', password: 'pw' }),
    });
    t.is(res.status, 200);
  } finally {
    s.child.kill('SIGTERM');
    await s.exited;
    cleanup();
  }
});

test('the database comes from TML_SWITCHBOARD_DB when --db is absent', (t) => {
  const { db, cleanup } = freshDb();
  adminOk(['user', 'add', 'alice'], undefined, { TML_SWITCHBOARD_DB: db });
  t.is(admin(['user', 'add', 'alice', '--db', db]).status, 1);
  cleanup();
});

const FAILURES: Array<[string, string[], number, RegExp]> = [
  ['a duplicate user', ['user', 'add', 'alice'], 1, /user "alice" already exists/],
  ['a malformed --email', ['user', 'add', 'erin', '--email', 'erin'], 2, /--email: "erin" is not an e-mail address/],
  ['a token for an unknown user', ['token', 'create', '--user', 'nobody'], 1, /no user named "nobody"/],
  [
    'a bad --expires',
    ['token', 'create', '--user', 'alice', '--expires', 'soon'],
    2,
    /--expires: invalid duration "soon"/,
  ],
  [
    'a token that would be born expired',
    ['token', 'create', '--user', 'alice', '--expires', '0'],
    2,
    /--expires: a token must live longer than 0/,
  ],
  ['a bad --listen', ['serve', '--listen', 'localhost'], 2, /--listen must be HOST:PORT/],
  [
    'a bad --job-timeout',
    ['serve', '--listen', '127.0.0.1:0', '--job-timeout', '5x'],
    2,
    /--job-timeout: invalid duration/,
  ],
  ['an unknown command', ['frobnicate'], 2, /unexpected argument "frobnicate"/],
  ['a supervisor without --tags', ['supervisor', 'add', 'x'], 2, /Missing required argument: tags/],
];

for (const [what, args, code, message] of FAILURES) {
  test(`${what} fails with one clear line and exit ${code}`, (t) => {
    const { db, cleanup } = freshDb();
    adminOk(['user', 'add', 'alice', '--db', db]);
    const r = admin([...args, '--db', db]);
    t.is(r.status, code);
    t.regex(r.stderr, message);
    t.is(r.stderr.trim().split('\n').length, 1, r.stderr);
    cleanup();
  });
}

test('no database at all is a usage error', (t) => {
  const r = admin(['supervisor', 'list']);
  t.is(r.status, 2);
  t.regex(r.stderr, /no database: pass --db FILE or set TML_SWITCHBOARD_DB/);
});

test('a user added with --password-stdin can log in; serve stops cleanly on SIGINT', async (t) => {
  const { db, cleanup } = freshDb();
  adminOk(['user', 'add', 'carol', '--admin', '--password-stdin', '--db', db], 'pa55 word\n');
  const s = await serve(db);
  try {
    const res = await fetch(`${s.url}/api/v1/tokens/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user_identifier: 'carol', password: 'pa55 word' }),
    });
    t.is(res.status, 200);
    const { token } = (await res.json()) as { token: string };
    t.is((await fetch(`${s.url}/api/v1/jobs`, { headers: { authorization: `Bearer ${token}` } })).status, 200);
  } finally {
    s.child.kill('SIGINT');
    t.is(await s.exited, 0);
    cleanup();
  }
});
