import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import { join } from 'node:path';
import { EXIT_STATUSES, INIT_STAGES, type ExecutionState } from '../../protocol/job.js';
import { SqliteStore } from '../../switchboard/sqlite-store.js';
import { JobStore, TIME_MARK_MS, type JobChange } from '../../switchboard/jobs.js';
import type { JobRow } from '../../switchboard/store.js';
import { BOOK_STATE_TRANSITIONS, checkExitStatus } from '../../switchboard/lifecycle.js';
import { storedJobRequest, tempDir } from './harness.js';

const STATES: ExecutionState[] = ['scheduled', 'initializing', 'ready', 'terminating', 'terminated'];

const changeArb: fc.Arbitrary<JobChange> = fc.record(
  {
    actor: fc.constantFrom('switchboard' as const, 'supervisor' as const),
    exitStatus: fc.record({ to: fc.constantFrom(...EXIT_STATUSES), message: fc.constant(null) }),
    state: fc.record({ to: fc.constantFrom(...STATES), stage: fc.constantFrom(null, ...INIT_STAGES) }),
    subState: fc.record({ stage: fc.constant(null), statusMessage: fc.string({ maxLength: 8 }) }),
  },
  { requiredKeys: ['actor'] },
);

test("whatever anyone asks, the stored history follows the book's tables", async (t) => {
  const { dir, cleanup } = tempDir();
  const db = await SqliteStore.open(join(dir, 'p.sqlite'));
  const owner = (await db.addUser('p', null, false)).id;
  const store = new JobStore(db);
  let n = 0;
  try {
    await fc.assert(
      fc.asyncProperty(fc.array(changeArb, { maxLength: 12 }), async (changes) => {
        const id = `00000000-0000-4000-8000-${String(n++).padStart(12, '0')}`;
        await store.create(id, owner, storedJobRequest());
        // Half of them one transaction each, the rest together in one (as a supervisor's events that came at once).
        const half = Math.floor(changes.length / 2);
        for (const c of changes.slice(0, half)) await store.apply(id, c);
        await store.batch(async () => {
          for (const c of changes.slice(half)) await store.apply(id, c);
        });
        const events = await db.events(id);
        let state: ExecutionState = 'queued';
        let exit: (typeof EXIT_STATUSES)[number] | null = null;
        for (const e of events.slice(1)) {
          if (e.kind === 'state') {
            if (BOOK_STATE_TRANSITIONS[state][e.state] !== 1) return false;
            state = e.state;
          } else if (e.kind === 'exit_status') {
            if (checkExitStatus(e.by, state, exit, e.exit_status!) !== null) return false;
            exit = e.exit_status;
          } else if (state === 'terminated') {
            return false;
          }
        }
        const row = (await store.get(id))!;
        return row.state === state && row.exit_status === exit;
      }),
      { numRuns: 300 },
    );
    t.pass();
  } finally {
    await db.close();
    cleanup();
  }
});

test('a refused change writes nothing', async (t) => {
  const { dir, cleanup } = tempDir();
  const db = await SqliteStore.open(join(dir, 'r.sqlite'));
  const store = new JobStore(db);
  const id = '00000000-0000-4000-8000-000000000001';
  await store.create(id, (await db.addUser('r', null, false)).id, storedJobRequest());
  // A legal exit status together with an illegal state change: neither is stored.
  const r = await store.apply(id, {
    actor: 'switchboard',
    exitStatus: { to: 'queue_timeout', message: null },
    state: { to: 'ready' },
  });
  t.false(r.ok);
  t.is((await store.get(id))!.exit_status, null);
  t.is((await db.job(id))!.exit_status, null);
  t.is((await db.events(id)).length, 1);
  await db.close();
  cleanup();
});

/** A JobStore over a fresh SQLite file with one queued job, on a clock the test moves. */
async function withJob(
  t: ExecutionContext,
  body: (store: JobStore, db: SqliteStore, id: string, clock: { now: number }) => Promise<void>,
): Promise<void> {
  const { dir, cleanup } = tempDir();
  const db = await SqliteStore.open(join(dir, 'b.sqlite'));
  const clock = { now: 1000 };
  const store = new JobStore(db, 1024, () => clock.now);
  const id = '00000000-0000-4000-8000-000000000002';
  try {
    await store.create(id, (await db.addUser('b', null, false)).id, storedJobRequest());
    await body(store, db, id, clock);
  } finally {
    await db.close();
    cleanup();
  }
  t.pass();
}

const toScheduled: JobChange = { actor: 'switchboard', state: { to: 'scheduled' } };
const toInitializing: JobChange = { actor: 'supervisor', state: { to: 'initializing', stage: 'starting' } };

test('changes in one batch see each other, commit together and are announced after the commit, in order', (t) =>
  withJob(t, async (store, db, id) => {
    const announced: string[] = [];
    store.on('changed', (job: JobRow) => announced.push(job.state));
    store.on('log', (_, end) => announced.push(`log ${end}`));
    await store.batch(async () => {
      t.true((await store.apply(id, toScheduled)).ok);
      t.is((await store.current(id))!.state, 'scheduled');
      t.true((await store.apply(id, toInitializing)).ok);
      t.true(await store.appendLog(id, Buffer.from('boot\n')));
      t.true(await store.appendLog(id, Buffer.from('more\n')));
      // Nothing is announced, and other readers see the job as it was, until the commit.
      t.deepEqual(announced, []);
      t.is((await store.get(id))!.state, 'queued');
    });
    t.deepEqual(announced, ['scheduled', 'initializing', 'log 5', 'log 10']);
    t.like(await store.get(id), { state: 'initializing', log_end: 10 });
    t.like(await db.job(id), { state: 'initializing', log_end: 10 });
    t.deepEqual(
      (await db.events(id)).map((e) => e.state),
      ['queued', 'scheduled', 'initializing'],
    );
    t.deepEqual(
      (await db.readLog(id, 0, 10)).map((c) => [c.offset, c.data.toString()]),
      [
        [0, 'boot\n'],
        [5, 'more\n'],
      ],
    );
  }));

test('a batch that fails keeps and announces none of its changes', (t) =>
  withJob(t, async (store, db, id) => {
    const announced: JobRow[] = [];
    store.on('changed', (job: JobRow) => announced.push(job));
    await t.throwsAsync(
      store.batch(async () => {
        await store.apply(id, toScheduled);
        await store.appendLog(id, Buffer.from('lost'));
        throw new Error('the disk went away');
      }),
      { message: 'the disk went away' },
    );
    t.deepEqual(announced, []);
    t.like(await store.get(id), { state: 'queued', log_end: 0 });
    t.like(await db.job(id), { state: 'queued', log_end: 0 });
    t.is((await db.events(id)).length, 1);
    t.deepEqual(await db.readLog(id, 0, 10), []);
    // The job takes the same change afterwards.
    t.true((await store.apply(id, toScheduled)).ok);
  }));

test('a stored console chunk is marked with when it came; chunks within TIME_MARK_MS of the mark share it', (t) =>
  withJob(t, async (store, db, id, clock) => {
    await store.appendLog(id, Buffer.from('a'));
    clock.now += TIME_MARK_MS - 1;
    await store.appendLog(id, Buffer.from('b'));
    clock.now += 1;
    await store.appendLog(id, Buffer.from('c'));
    t.deepEqual(
      (await db.consoleTimes(id, 0, 3, 10)).map((m) => [m.offset, m.at]),
      [
        [0, 1000],
        [2, 1000 + TIME_MARK_MS],
      ],
    );
  }));

test('in a batch, a job that is not in memory is read in its transaction (SQLite has one connection)', (t) =>
  withJob(t, async (_, db, id) => {
    // A new JobStore knows no job yet, as after a restart or once a job has ended.
    const fresh = new JobStore(db);
    const canceled: JobChange = {
      actor: 'switchboard',
      exitStatus: { to: 'job_canceled', message: null },
      state: { to: 'terminated' },
    };
    t.true((await fresh.apply(id, canceled)).ok);
    const late = new JobStore(db);
    const answered = await Promise.race([
      late.batch(async () => ({
        state: (await late.current(id))?.state,
        request: (await late.request((await late.current(id))!)).init_spec,
        stored: await late.appendLog(id, Buffer.from('after the end')),
      })),
      new Promise<'hung'>((r) => setTimeout(() => r('hung'), 5000).unref()),
    ]);
    t.deepEqual(answered, { state: 'terminated', request: storedJobRequest().init_spec, stored: false });
  }));
