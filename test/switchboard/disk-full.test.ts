import type { DbStore } from '../../switchboard/db-store.js';
import test from 'ava';
import { StoreUnavailable } from '../../switchboard/store.js';
import { FakeSupervisor, jobRequest, startHarness } from './harness.js';

test('a database that cannot write keeps supervisor events waiting, REST answering, and loses nothing once it can', async (t) => {
  const h = await startHarness();
  const sup = await h.addSupervisor('sup', 'board:x');
  const fake = await FakeSupervisor.connect(h.url, sup.id, sup.token);
  try {
    const id = (await h.api(h.tokens.alice, 'POST', '/jobs/new', jobRequest({ tag_config: 'board:x' }))).json
      .job_id as string;
    await fake.next('start_job', (m) => m.message.job_id === id);
    // The disk fills: every write fails as SQLite's SQLITE_FULL does.
    const store = h.sb.db;
    const transaction = store.transaction.bind(store);
    let full = true;
    store.transaction = async <T>(fn: (tx: DbStore) => Promise<T>): Promise<T> => {
      if (full) throw new StoreUnavailable('full', 'database: database or disk is full (SQLITE_FULL)');
      return transaction(fn);
    };
    fake.transition(id, { state: 'ready' });
    fake.console(id, 'hello\n');
    fake.declare(id, 'success', 'all good');
    fake.transition(id, { state: 'terminated' });
    while (!h.logLines.some((l) => /not stored: database: database or disk is full/.test(l))) {
      await new Promise((r) => setTimeout(r, 10));
    }
    await new Promise((r) => setTimeout(r, 300));
    t.is((await h.sb.jobs.get(id))!.state, 'scheduled');
    const status = await h.api(h.tokens.alice, 'GET', `/jobs/${id}/status`);
    t.is(status.status, 200);
    const refused = await h.api(h.tokens.alice, 'POST', '/jobs/new', jobRequest({ tag_config: 'board:x' }));
    t.is(refused.status, 507);
    t.is(refused.json.type, 'storage_full');
    // Space again: the waiting events are stored, in order.
    full = false;
    const job = await h.waitJob(id, (j) => j.state === 'terminated');
    t.is(job.exit_status, 'workload_finished_success');
    t.is(job.exit_message, 'all good');
    t.is(job.log_end, 6);
    t.deepEqual(
      (await h.sb.db.events(id)).map((e) => e.state),
      ['queued', 'scheduled', 'ready', 'ready', 'terminated'],
    );
    t.true(h.logLines.some((l) => /the database takes writes again/.test(l)));
  } finally {
    await fake.close();
    await h.close();
  }
});

test('the events that end a job and the start of the next one are stored together: while they cannot be, the next job stays queued and is not sent', async (t) => {
  const h = await startHarness();
  const sup = await h.addSupervisor('sup', 'board:x');
  const fake = await FakeSupervisor.connect(h.url, sup.id, sup.token);
  try {
    const enqueue = async () =>
      (await h.api(h.tokens.alice, 'POST', '/jobs/new', jobRequest({ tag_config: 'board:x' }))).json.job_id as string;
    const first = await enqueue();
    const second = await enqueue();
    await fake.next('start_job', (m) => m.message.job_id === first);
    const store = h.sb.db;
    const transaction = store.transaction.bind(store);
    let failures = 1;
    let transactions = 0;
    // The commit fails once, after everything in the transaction was done: all of it rolls back.
    store.transaction = async <T>(fn: (tx: DbStore) => Promise<T>): Promise<T> => {
      transactions++;
      if (failures === 0) return transaction(fn);
      failures--;
      return transaction(async (tx) => {
        await fn(tx);
        throw new StoreUnavailable('unavailable', 'database: the connection was lost at commit');
      });
    };
    fake.transition(first, { state: 'ready' });
    fake.declare(first, 'success');
    fake.transition(first, { state: 'terminated' });
    await fake.next('start_job', (m) => m.message.job_id === second);
    // Sent once stored (the hub tries again after 100 ms: a start_job sent before would find it queued).
    t.like(await h.sb.db.job(second), { state: 'scheduled', supervisor_id: sup.id });
    t.like(await h.sb.db.job(first), { state: 'terminated', exit_status: 'workload_finished_success' });
    // The one that failed, then the one that stored the end of the first job and the start of the second.
    t.is(transactions, 2);
  } finally {
    await fake.close();
    await h.close();
  }
});
