// Following, against an in-memory switchboard whose streams break where a test says.

import test from 'ava';
import { getEventListeners } from 'node:events';
import type { SeqEvent } from '../../protocol/switchboard-api.js';
import { ApiError, NetworkError } from '../../tml/errors.js';
import { NoConsoleLog, Outage, followConsole, followEvents, sleep, waitForJob } from '../../tml/follow.js';
import { jobStatus } from './fake-switchboard.js';

const JOB = '11111111-2222-4333-8444-555555555555';

/** A console of `text`, streamed in `pieces`; each connection breaks after `breakAfter` pieces. */
class Console {
  readonly asked: number[] = [];
  terminated = false;
  constructor(
    readonly text: string,
    private readonly piece: number,
    private readonly breakAfter: number | null,
  ) {}

  base = 'http://sb';
  async status() {
    return jobStatus(JOB, { state: this.terminated ? 'terminated' : 'ready' });
  }
  async log(_id: string, offset: number) {
    const data = Buffer.from(this.text).subarray(offset);
    return { data, offset, next: offset + data.length, terminated: this.terminated };
  }
  async followLog(_id: string, offset: number) {
    this.asked.push(offset);
    const bytes = Buffer.from(this.text);
    const piece = this.piece;
    const breakAfter = this.breakAfter;
    const done = () => (this.terminated = true);
    async function* chunks() {
      let n = 0;
      for (let at = offset; at < bytes.length; at += piece) {
        if (breakAfter !== null && n++ === breakAfter)
          throw new NetworkError('lost the console stream: the connection was closed');
        yield bytes.subarray(at, at + piece);
      }
      done();
    }
    return { start: offset, chunks: chunks() };
  }
  async eventsPage(): Promise<never> {
    throw new Error('not used');
  }
}

const quiet = () => new Outage(() => {}, 60_000);

test('a console stream that breaks resumes at the offset reached: nothing missed, nothing twice', async (t) => {
  const text = 'abcdefghijklmnopqrstuvwxyz0123456789';
  const c = new Console(text, 4, 3);
  let got = '';
  const r = await followConsole(c, JOB, { outage: quiet(), onChunk: (b) => (got += b.toString()), retryMs: 1 });
  t.is(got, text);
  t.deepEqual(r, { offset: text.length, complete: true });
  t.deepEqual(
    c.asked,
    [0, 12, 24, 36].filter((o) => o < text.length),
  );
});

test('following starts at the offset asked for', async (t) => {
  const c = new Console('0123456789', 100, null);
  let got = '';
  await followConsole(c, JOB, { from: 4, outage: quiet(), onChunk: (b) => (got += b.toString()) });
  t.is(got, '456789');
});

test('a stream that ends while the job still runs is resumed, not taken for the end', async (t) => {
  const c = new Console('0123456789', 5, null);
  // The first connection ends cleanly after 5 bytes, as a switchboard shutting down ends it.
  const followLog = c.followLog.bind(c);
  let first = true;
  c.followLog = async (id: string, offset: number) => {
    if (!first) return followLog(id, offset);
    first = false;
    c.asked.push(offset);
    async function* once() {
      yield Buffer.from('01234');
    }
    return { start: offset, chunks: once() };
  };
  // The stored log has nothing more: the job still runs.
  c.log = async (_id: string, offset: number) => ({
    data: Buffer.alloc(0),
    offset,
    next: offset,
    terminated: c.terminated,
  });
  let got = '';
  await followConsole(c, JOB, { outage: quiet(), onChunk: (b) => (got += b.toString()) });
  t.is(got, '0123456789');
  t.deepEqual(c.asked, [0, 5]);
});

test('an outage longer than the tolerance ends following with the network error', async (t) => {
  const c = new Console('x', 1, null);
  c.followLog = async () => {
    throw new NetworkError('cannot reach the switchboard');
  };
  let now = 0;
  const notes: string[] = [];
  const outage = new Outage(
    (l) => notes.push(l),
    1000,
    () => (now += 400),
  );
  await t.throwsAsync(followConsole(c, JOB, { outage, onChunk: () => {}, retryMs: 1 }), { instanceOf: NetworkError });
  t.is(notes.length, 1);
  t.regex(notes[0]!, /; retrying for up to 1 s$/);
});

test('an outage is noted once and its end once', (t) => {
  const notes: string[] = [];
  let now = 0;
  const o = new Outage(
    (l) => notes.push(l),
    60_000,
    () => now,
  );
  t.true(o.failed(new NetworkError('cannot reach')));
  now = 30_000;
  t.true(o.failed(new NetworkError('cannot reach')));
  now = 60_000;
  t.false(o.failed(new NetworkError('cannot reach')));
  o.recovered();
  t.false(o.failed(new Error('a bug is not an outage')));
  t.deepEqual(notes, ['tml: cannot reach; retrying for up to 60 s', 'tml: the switchboard is reachable again']);
});

test('a switchboard without a console log route is told apart from an unknown job', async (t) => {
  const c = new Console('', 1, null);
  c.followLog = async () => {
    throw new ApiError(404, null, 'no such route');
  };
  await t.throwsAsync(followConsole(c, JOB, { outage: quiet(), onChunk: () => {} }), { instanceOf: NoConsoleLog });
  c.followLog = async () => {
    throw new ApiError(404, 'invalid', 'no job');
  };
  await t.throwsAsync(followConsole(c, JOB, { outage: quiet(), onChunk: () => {} }), { instanceOf: ApiError });
});

test('output the switchboard dropped is reported as a gap, and what follows keeps its offset', async (t) => {
  const c = new Console('', 1, null);
  c.followLog = async (_id: string, offset: number) => {
    async function* chunks() {
      yield Buffer.from('tail');
      c.terminated = true;
    }
    return { start: offset + 100, chunks: chunks() };
  };
  const gaps: Array<[number, number]> = [];
  const offsets: number[] = [];
  const r = await followConsole(c, JOB, {
    outage: quiet(),
    onChunk: (_b, at) => offsets.push(at),
    onGap: (from, to) => gaps.push([from, to]),
  });
  t.deepEqual(gaps, [[0, 100]]);
  t.deepEqual(offsets, [100]);
  t.is(r.offset, 104);
});

function event(state: SeqEvent['state'], seq: number | null): SeqEvent {
  return {
    at: '2025-10-31T12:00:00Z',
    kind: 'state',
    by: 'switchboard',
    state,
    stage: null,
    status_message: null,
    exit_status: null,
    seq,
  };
}

test('events are followed by sequence number, page by page, until the terminated event', async (t) => {
  const all = [event('queued', 1), event('scheduled', 2), event('ready', 3), event('terminated', 4)];
  const asked: Array<number | undefined> = [];
  let shown = 2;
  const c = {
    eventsPage: async (_id: string, after?: number) => {
      asked.push(after);
      const rest = all.slice(0, shown).filter((e) => after === undefined || e.seq! > after);
      shown = all.length;
      const page = rest.slice(0, 1);
      return { events: page, next: rest.length > 1 ? page[0]!.seq : null };
    },
  };
  const got: string[] = [];
  await followEvents(c, JOB, { outage: quiet(), onEvent: (e) => got.push(e.state), pollMs: 1 });
  t.deepEqual(got, ['queued', 'scheduled', 'ready', 'terminated']);
  t.deepEqual(asked, [undefined, 1, 2, 3]);
});

test('events from a switchboard without numbers are followed by counting', async (t) => {
  const all = [event('queued', null), event('ready', null), event('terminated', null)];
  let shown = 1;
  const c = { eventsPage: async () => ({ events: all.slice(0, shown++), next: undefined }) };
  const got: string[] = [];
  await followEvents(c, JOB, { outage: quiet(), onEvent: (e) => got.push(e.state), pollMs: 1 });
  t.deepEqual(got, ['queued', 'ready', 'terminated']);
});

test('waiting gives up at its time-out with null', async (t) => {
  const c = { status: async () => jobStatus(JOB, { state: 'ready' }) };
  const started = Date.now();
  t.is(await waitForJob(c, JOB, { timeoutMs: 150, outage: quiet() }), null);
  t.true(Date.now() - started < 2000);
});

test('sleeping on a signal leaves no listener on it, however often', async (t) => {
  const signal = new AbortController().signal;
  for (let i = 0; i < 50; i++) await sleep(0, signal);
  t.is(getEventListeners(signal, 'abort').length, 0);
  const stop = new AbortController();
  const pending = sleep(60_000, stop.signal);
  stop.abort();
  await pending;
  t.pass();
});
