import test from 'ava';
import fc from 'fast-check';
import { join } from 'node:path';
import { EXIT_STATUSES, INIT_STAGES, type ExecutionState } from '../../protocol/job.js';
import { SqliteStore } from '../../switchboard/sqlite-store.js';
import { JobStore, type JobChange } from '../../switchboard/jobs.js';
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
        for (const c of changes) await store.apply(id, c);
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
