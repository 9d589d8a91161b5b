// A whole switchboard on PostgreSQL: `tml-switchboard serve --db postgres://...` and the admin
// commands take a URL where they took a file, and a job runs through it as through SQLite.

import anywhere from 'ava';
import { openPostgresStore } from '../../switchboard/pg-store.js';
import { FakeSupervisor, jobRequest, startHarness } from './harness.js';
import { admin, adminOk, serve } from './process.js';
import { freshDatabase, postgresTest } from './postgres.js';

const test = postgresTest();

test('a job runs from enqueue to its end on a switchboard over PostgreSQL, and its history stays in the database', async (t) => {
  const db = await freshDatabase(t);
  const h = await startHarness({ db });
  let id: string;
  try {
    const sup = await h.addSupervisor('rack-1', 'board:nrf');
    const fake = await FakeSupervisor.connect(h.url, sup.id, sup.token);
    const r = await h.api(h.tokens.alice, 'POST', '/jobs/new', jobRequest({ tag_config: 'board:nrf' }));
    t.is(r.status, 200, r.text);
    id = r.json.job_id as string;
    await fake.next('start_job', (m) => m.message.job_id === id);
    fake.console(id, 'hello from the board\n');
    fake.finish(id);
    const done = await h.waitJob(id, (j) => j.state === 'terminated');
    t.is(done.exit_status, 'workload_finished_success');
    await fake.close();
  } finally {
    await h.close();
  }
  const again = await openPostgresStore(db);
  try {
    t.like(await again.job(id), { state: 'terminated', exit_status: 'workload_finished_success' });
    t.true(Buffer.concat((await again.readLog(id, 0, 10)).map((c) => c.data)).includes('hello from the board'));
    t.true((await again.eventCount(id)) >= 5);
  } finally {
    await again.close();
  }
});

test('tml-switchboard serve and the admin commands take a postgres:// --db', async (t) => {
  const db = await freshDatabase(t);
  adminOk(['user', 'add', 'dave', '--email', 'dave@example.org', '--password-stdin', '--db', db], 'pw\n');
  t.regex(adminOk(['user', 'list', '--db', db]), /^dave\s/m);
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
  }
});

// No server needed for this one.
anywhere('a --db naming a PostgreSQL server that is not there is one line, without the password', (t) => {
  const r = admin(['user', 'list', '--db', 'postgres://tml:s3cret@127.0.0.1:1/tml']);
  t.is(r.status, 1);
  t.is(r.stderr, 'tml-switchboard: cannot connect to PostgreSQL at 127.0.0.1:1: connection refused\n');
});
