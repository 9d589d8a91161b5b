import test from 'ava';
import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import type { JobDetail, JobWatchEvent, WebData } from '../../../switchboard/web/data.js';
import { streamJob } from '../../../switchboard/web/live.js';
import { Redactor } from '../../../switchboard/web/redact.js';
import type { ConsoleEvent } from '../../../switchboard/web/wire.js';

/** A running job whose console grows in memory, with the WebData a live stream uses over it. */
function busyJob() {
  let bytes = Buffer.alloc(0);
  let state: JobDetail['state'] = 'ready';
  let listener: ((e: JobWatchEvent) => void) | null = null;
  let jobReads = 0;
  const detail = (): JobDetail =>
    ({
      id: 'j',
      state,
      stage: null,
      statusMessage: null,
      exitStatus: null,
      exitMessage: null,
      console: { start: 0, end: bytes.length },
    }) as JobDetail;
  const data = {
    job: async () => {
      jobReads++;
      return detail();
    },
    jobEvents: async () => [],
    readConsole: async (_id: string, offset: number, max: number) => ({
      offset,
      data: bytes.subarray(offset, offset + max),
    }),
    consoleTimes: async () => [],
    watch: (_id: string, l: (e: JobWatchEvent) => void) => {
      listener = l;
      return () => (listener = null);
    },
  } as unknown as WebData;
  return {
    data,
    detail,
    jobReads: () => jobReads,
    print(text: string) {
      bytes = Buffer.concat([bytes, Buffer.from(text)]);
      listener?.({ kind: 'console', end: bytes.length });
    },
    end() {
      state = 'terminated';
      listener?.({ kind: 'changed' });
    },
  };
}

/** A response that keeps what is written. */
function response(): ServerResponse & { text: string } {
  const res = Object.assign(new EventEmitter(), {
    text: '',
    write(chunk: string) {
      res.text += chunk;
      return true;
    },
    end() {
      res.emit('close');
    },
  });
  return res as unknown as ServerResponse & { text: string };
}

const tick = () => new Promise((r) => setImmediate(r));

test('console output alone does not read the job again; a change of the job does', async (t) => {
  const job = busyJob();
  const res = response();
  const stream = streamJob(res, {
    data: job.data,
    job: job.detail(),
    from: 0,
    afterSeq: 0,
    redactor: new Redactor([]),
    heartbeatMs: 60_000,
    stillAllowed: async () => true,
  });
  await tick();
  const readsAtStart = job.jobReads();
  for (let i = 0; i < 50; i++) {
    job.print(`line ${i}\n`);
    await tick();
  }
  t.is(job.jobReads(), readsAtStart);
  job.end();
  await stream;
  t.is(job.jobReads(), readsAtStart + 1);
  const lines = res.text
    .split('\n\n')
    .filter((m) => m.includes('event: console'))
    .flatMap((m) => (JSON.parse(m.slice(m.indexOf('data: ') + 6)) as ConsoleEvent).lines.map((l) => l.runs[0]![1]));
  t.deepEqual(
    lines,
    Array.from({ length: 50 }, (_, i) => `line ${i}`),
  );
  t.true(res.text.includes('event: end'));
});
