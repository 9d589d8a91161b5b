// The bounded queue of events kept while the supervisor is unreachable: what it gives up when full.

import test from 'ava';
import { SupervisorConnection } from '../../puppet/connection.js';
import { createLogger } from '../../protocol/log.js';
import { Keep, Outbox, QueueFullError, keepRank, type Queued } from '../../puppet/outbox.js';

interface Tracked extends Queued {
  name: string;
  outcome: 'pending' | 'written' | Error;
}

function item(name: string, keep: Keep): Tracked {
  const q: Tracked = {
    name,
    keep,
    frame: Buffer.from(name),
    outcome: 'pending',
    written: (err) => {
      q.outcome = err ?? 'written';
    },
  };
  return q;
}

const names = (items: Queued[]) => items.map((q) => (q as Tracked).name);

test('job reports rank above sub-states, which rank above command output', (t) => {
  t.is(keepRank('declareworkloadexitstatus'), Keep.Report);
  t.is(keepRank('terminatejob'), Keep.Report);
  t.is(keepRank('reportsubstate'), Keep.Substate);
  t.is(keepRank('runcommandoutput'), Keep.Output);
  t.is(keepRank('runcommandexitcode'), Keep.Event);
});

test('a full queue gives up the oldest command output first', (t) => {
  const box = new Outbox(3);
  const out1 = item('out1', Keep.Output);
  for (const q of [item('sub', Keep.Substate), out1, item('out2', Keep.Output)]) box.push(q);
  t.is(box.push(item('status', Keep.Report)), out1);
  t.true(out1.outcome instanceof QueueFullError);
  t.deepEqual(names(box.take()), ['sub', 'out2', 'status']);
});

test('without command output, a full queue gives up the oldest sub-state and rejects its delivery', (t) => {
  const box = new Outbox(3);
  const sub1 = item('sub1', Keep.Substate);
  for (const q of [item('status', Keep.Report), sub1, item('sub2', Keep.Substate)]) box.push(q);
  t.is(box.push(item('terminate', Keep.Report)), sub1);
  t.true(sub1.outcome instanceof QueueFullError);
  t.regex((sub1.outcome as Error).message, /^report dropped: the puppet's queue is full/);
  t.deepEqual(names(box.take()), ['status', 'sub2', 'terminate']);
});

test('a full queue of reports refuses a new report instead of dropping one already accepted', (t) => {
  const box = new Outbox(2);
  const status = item('status', Keep.Report);
  const terminate = item('terminate', Keep.Report);
  box.push(status);
  box.push(terminate);
  const late = item('late', Keep.Report);
  t.throws(() => box.push(late), { instanceOf: QueueFullError, message: /report dropped/ });
  t.is(late.outcome, 'pending');
  t.deepEqual(names(box.take()), ['status', 'terminate']);
  t.is(status.outcome, 'pending');
});

test('a sub-state reported into a queue full of reports is refused at once', (t) => {
  const box = new Outbox(1);
  box.push(item('status', Keep.Report));
  t.throws(() => box.push(item('sub', Keep.Substate)), { instanceOf: QueueFullError });
  t.is(box.length, 1);
});

test('the queue counts the bytes it holds, also after giving items up', (t) => {
  const box = new Outbox(1);
  box.push(item('out1', Keep.Output));
  box.push(item('status', Keep.Report));
  t.is(box.bytes, 'status'.length);
});

test('while disconnected, a workload exit status the full queue cannot hold fails its sender synchronously', async (t) => {
  // never started, so never connected: every event is queued
  const conn = new SupervisorConnection({
    address: { host: '127.0.0.1', port: 9 },
    log: createLogger({ level: 'error', write: () => {} }),
    maxQueuedEvents: 2,
  });
  const sub = conn.sendEvent({ type: 'reportsubstate', substate: 'flashing' });
  const first = conn.sendEvent({
    type: 'declareworkloadexitstatus',
    workload_exit_status: 'success',
    workload_output: null,
  });
  const terminate = conn.sendEvent({ type: 'terminatejob', supervisor_event_id: null });
  await t.throwsAsync(sub, { instanceOf: QueueFullError });
  t.throws(
    () => conn.sendEvent({ type: 'declareworkloadexitstatus', workload_exit_status: 'error', workload_output: null }),
    {
      instanceOf: QueueFullError,
      message: /report dropped: the puppet's queue is full \(2 events\) while disconnected from the supervisor/,
    },
  );
  conn.close();
  // the reports already accepted were kept until the connection was closed, not dropped
  await t.throwsAsync(first, { message: 'connection closed' });
  await t.throwsAsync(terminate, { message: 'connection closed' });
});
