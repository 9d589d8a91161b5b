import test from 'ava';
import fc from 'fast-check';
import { MAX_EVENTS_PER_JOB, MAX_STATUS_MESSAGE_BYTES, capText } from '../../switchboard/caps.js';
import { JobStore } from '../../switchboard/jobs.js';
import { SqliteStore } from '../../switchboard/sqlite-store.js';
import { storedJobRequest } from './harness.js';

test('a capped text fits its cap, starts as the original did and says it was cut', (t) => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 400 }), fc.integer({ min: 64, max: 300 }), (text, max) => {
      const out = capText(text, max);
      if (Buffer.byteLength(text) <= max) return out === text;
      const m = / \[\.\.\. truncated: (\d+) bytes in all\]$/.exec(out);
      return (
        Buffer.byteLength(out) <= max &&
        m !== null &&
        Number(m[1]) === Buffer.byteLength(text) &&
        text.startsWith(out.slice(0, m.index))
      );
    }),
  );
  t.pass();
});

test('a flood of large sub-states keeps bounded texts and a bounded number of events; the end is still recorded', async (t) => {
  const store = await SqliteStore.open(':memory:');
  const jobs = new JobStore(store);
  const id = '00000000-0000-4000-8000-000000000001';
  await jobs.create(id, (await store.addUser('u', null, false)).id, storedJobRequest());
  await jobs.apply(id, { actor: 'switchboard', state: { to: 'scheduled', supervisorId: undefined } });
  const big = 'x'.repeat(100_000);
  for (let i = 0; i < MAX_EVENTS_PER_JOB + 100; i++) {
    t.true((await jobs.apply(id, { actor: 'supervisor', subState: { stage: null, statusMessage: `${i} ${big}` } })).ok);
  }
  const job = (await jobs.get(id))!;
  t.true(job.status_message!.startsWith(`${MAX_EVENTS_PER_JOB + 99} xxx`));
  t.true(Buffer.byteLength(job.status_message!) <= MAX_STATUS_MESSAGE_BYTES);
  t.regex(job.status_message!, /truncated: 1000\d+ bytes in all\]$/);
  t.is(await store.eventCount(id), MAX_EVENTS_PER_JOB);
  t.true(
    (await store.events(id)).every((e) => e.status_message === null || Buffer.byteLength(e.status_message) <= 4096),
  );
  await jobs.apply(id, {
    actor: 'supervisor',
    exitStatus: { to: 'workload_finished_success', message: 'y'.repeat(200_000) },
    state: { to: 'terminated' },
  });
  const events = await store.events(id);
  t.is(events.length, MAX_EVENTS_PER_JOB + 1);
  t.like(events.at(-1), { kind: 'state', state: 'terminated', exit_status: 'workload_finished_success' });
  t.true(Buffer.byteLength((await jobs.get(id))!.exit_message!) <= 64 * 1024);
  await store.close();
});
