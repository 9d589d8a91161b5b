import test from 'ava';
import { join } from 'node:path';
import { tempDir } from './harness.js';
import { admin, adminOk, serve } from './process.js';

function freshDb(): { db: string; cleanup: () => void } {
  const { dir, cleanup } = tempDir();
  return { db: join(dir, 'sb.sqlite'), cleanup };
}

const json = (args: string[], input?: string) => JSON.parse(adminOk([...args, '--json'], input));

test('user add, list, lock, unlock and remove, each with --json', (t) => {
  const { db, cleanup } = freshDb();
  const carol = json(['user', 'add', 'carol', '--db', db, '--admin', '--email', 'carol@example.org']);
  t.like(carol, { name: 'carol', email: 'carol@example.org', admin: true, locked_at: null });
  adminOk(['user', 'add', 'dave', '--db', db]);
  t.deepEqual(
    json(['user', 'list', '--db', db]).map((u: { name: string }) => u.name),
    ['carol', 'dave'],
  );
  t.regex(
    adminOk(['user', 'list', '--db', db]),
    /^NAME +ADMIN +LOCKED +EMAIL +ID\ncarol +yes +no +carol@example.org +/,
  );
  t.truthy(json(['user', 'lock', 'dave', '--db', db]).locked_at);
  t.is(json(['user', 'unlock', 'dave', '--db', db]).locked_at, null);
  t.is(json(['user', 'remove', 'dave', '--db', db]).name, 'dave');
  const gone = admin(['user', 'remove', 'dave', '--db', db]);
  t.is(gone.status, 1);
  t.is(gone.stderr, 'tml-switchboard: no user named "dave"\n');
  cleanup();
});

test('a user who owns jobs is not removed: the message says to lock them', async (t) => {
  const { db, cleanup } = freshDb();
  adminOk(['user', 'add', 'erin', '--db', db]);
  adminOk(['supervisor', 'add', 's', '--db', db, '--tags', '']);
  const token = adminOk(['token', 'create', '--db', db, '--user', 'erin']);
  const s = await serve(db);
  try {
    const r = await fetch(`${s.url}/api/v1/jobs/new`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        init_spec: { type: 'image', image_id: 'ab'.repeat(32) },
        ssh_keys: [],
        restart_policy: { remaining_restart_count: 0 },
        parameters: {},
        tag_config: '',
        override_timeout: null,
      }),
    });
    t.is(r.status, 200);
    const refused = admin(['user', 'remove', 'erin', '--db', db]);
    t.is(refused.status, 1);
    t.regex(refused.stderr, /user erin owns jobs, which keep their owner: lock the user instead \(user lock erin\)/);
    // A locked user's token stops working at once, on the running switchboard.
    adminOk(['user', 'lock', 'erin', '--db', db]);
    const locked = await fetch(`${s.url}/api/v1/jobs`, { headers: { authorization: `Bearer ${token}` } });
    t.is(locked.status, 401);
    t.regex(((await locked.json()) as { message: string }).message, /this user is locked/);
  } finally {
    s.child.kill('SIGTERM');
    await s.exited;
    cleanup();
  }
});

test('tokens are listed by id and user and revoked by a prefix of the id; no token is printed again', (t) => {
  const { db, cleanup } = freshDb();
  adminOk(['user', 'add', 'alice', '--db', db]);
  const made = json(['token', 'create', '--db', db, '--user', 'alice', '--expires', 'never']);
  t.deepEqual(Object.keys(made), ['token', 'id', 'user', 'expires_at']);
  t.regex(made.id, /^[0-9a-f]{64}$/);
  t.is(made.expires_at, null);
  adminOk(['token', 'create', '--db', db, '--user', 'alice']);
  const list = json(['token', 'list', '--db', db, '--user', 'alice']);
  t.is(list.length, 2);
  t.true(list.some((tk: { id: string }) => tk.id === made.id));
  const text = adminOk(['token', 'list', '--db', db]);
  t.regex(text, /^ID +USER +CREATED +EXPIRES\n/);
  t.false(text.includes(made.token) || JSON.stringify(list).includes(made.token));
  const short = admin(['token', 'revoke', 'abc', '--db', db]);
  t.is(short.status, 2);
  t.regex(short.stderr, /is not 6 to 64 hex digits/);
  t.like(json(['token', 'revoke', made.id.slice(0, 10), '--db', db]), { id: made.id, user: 'alice' });
  t.is(json(['token', 'list', '--db', db]).length, 1);
  const again = admin(['token', 'revoke', made.id, '--db', db]);
  t.is(again.status, 1);
  t.regex(again.stderr, /no API token with id/);
  cleanup();
});

test('supervisors are retagged and removed by name or id; bad tags are refused when given', (t) => {
  const { db, cleanup } = freshDb();
  const added = json(['supervisor', 'add', 'rpi-1', '--db', db, '--tags', 'board:x']);
  t.like(json(['supervisor', 'retag', 'rpi-1', '--db', db, '--tags', 'board:y;site:lab']), {
    id: added.id,
    tags: ['board:y', 'site:lab'],
  });
  const bad = admin(['supervisor', 'retag', added.id, '--db', db, '--tags', 'board y']);
  t.is(bad.status, 2);
  t.regex(bad.stderr, /--tags: "board y" is not a tag/);
  t.is(admin(['supervisor', 'add', 'rpi-2', '--db', db, '--tags', 'a\tb']).status, 2);
  t.is(json(['supervisor', 'remove', added.id, '--db', db]).name, 'rpi-1');
  t.deepEqual(json(['supervisor', 'list', '--db', db]), []);
  const gone = admin(['supervisor', 'remove', 'rpi-1', '--db', db]);
  t.is(gone.status, 1);
  t.regex(gone.stderr, /no supervisor named or with id "rpi-1"/);
  cleanup();
});
