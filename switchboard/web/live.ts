// The live console: Server-Sent Events for one job. Console events carry the byte offset to
// resume from as their SSE id (the start of the line still being written), so a reconnect with
// Last-Event-ID, a second tab or a page opened mid-job continues with no gap and no duplicate:
// a line is keyed by its start offset and an unfinished line is sent again whole until it ends.
// Job events (states, sub-states, exit status) go as `job` events after the page's last one.

import { once } from 'node:events';
import type { ServerResponse } from 'node:http';
import { ConsoleRenderer, type Line } from './console-render.js';
import { WARMUP_BYTES, lineStartAtOrBefore, wireLines, type ConsoleSource } from './console-window.js';
import type { JobDetail, JobEvent, JobWatchEvent, WebData } from './data.js';
import type { Redactor } from './redact.js';
import type { ConsoleEvent, GapEvent, JobUpdateEvent, WireJobEvent } from './wire.js';

const READ_BYTES = 64 * 1024;
const EVENTS_PER_MESSAGE = 500;

export interface LiveOptions {
  data: WebData;
  job: JobDetail;
  /** Offset to resume the console from (Last-Event-ID, or the page's resume offset). */
  from: number;
  /** Job events with seq <= afterSeq are not sent. */
  afterSeq: number;
  redactor: Redactor;
  heartbeatMs: number;
  /** Whether the viewer's session is still valid (checked at each heartbeat). */
  stillAllowed: () => Promise<boolean>;
}

export function wireEvent(e: JobEvent, redactor: Redactor): WireJobEvent {
  return {
    seq: e.seq,
    at: e.at,
    kind: e.kind,
    by: e.by,
    state: e.state,
    stage: e.stage,
    message: redactor.textOrNull(e.statusMessage),
    exitStatus: e.exitStatus,
  };
}

/** One SSE message. Data is JSON, which has no raw newlines, so it is one `data:` line. */
export function sseMessage(event: string, data: unknown, id?: number): string {
  return `${id === undefined ? '' : `id: ${id}\n`}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** Streams a job to `res` until the job has ended and all of it is sent, or the client leaves. */
export async function streamJob(res: ServerResponse, o: LiveOptions): Promise<void> {
  const { data, redactor } = o;
  const id = o.job.id;
  const gone = new AbortController();
  res.on('close', () => gone.abort());
  let wake: (() => void) | null = null;
  let dirty = true;
  // Console output alone brings only a new end: the job is read again (for every watcher of a
  // busy job, many times a second) only when it changed.
  let changed = true;
  let consoleEnd = o.job.console.end;
  const poke = (e?: JobWatchEvent) => {
    if (e?.kind === 'console') consoleEnd = Math.max(consoleEnd, e.end);
    else changed = true;
    dirty = true;
    const w = wake;
    wake = null;
    w?.();
  };
  const unwatch = data.watch(id, poke);
  gone.signal.addEventListener('abort', () => poke());
  const heartbeat = setInterval(() => {
    void o.stillAllowed().then(
      (ok) => (ok ? write(': keep-alive\n\n') : gone.abort()),
      () => gone.abort(),
    );
  }, o.heartbeatMs);
  heartbeat.unref();

  const write = async (text: string): Promise<void> => {
    if (gone.signal.aborted) return;
    if (!res.write(text)) await once(res, 'drain', { signal: gone.signal });
  };

  let job: JobDetail = o.job;
  let lastSeq = o.afterSeq;
  const src = (): ConsoleSource => ({
    read: (offset, max) => data.readConsole(id, offset, max),
    times: (from, to) => data.consoleTimes(id, from, to),
    start: job.console.start,
    end: job.console.end,
  });

  /** A renderer positioned at `from` (a line start), warmed up on the bytes just before it. */
  const rendererAt = async (from: number, again = true): Promise<ConsoleRenderer> => {
    const s = src();
    const start = Math.min(Math.max(from, s.start), s.end);
    const anchor = await lineStartAtOrBefore(s, Math.max(s.start, start - WARMUP_BYTES));
    const r = new ConsoleRenderer(anchor);
    while (r.offset < start) {
      const slice = await data.readConsole(id, r.offset, Math.min(READ_BYTES, start - r.offset));
      if (slice.data.length === 0 || slice.offset !== r.offset) return new ConsoleRenderer(slice.offset);
      r.push(slice.data);
    }
    // Warm-up lines ending past `start` mean `start` was not a line start: resume at that line.
    return r.resumeOffset === start || !again ? r : rendererAt(r.resumeOffset, false);
  };

  const sendJob = async (): Promise<void> => {
    const events = await data.jobEvents(id, lastSeq, EVENTS_PER_MESSAGE);
    if (events.length > 0) lastSeq = events[events.length - 1]!.seq;
    const update: JobUpdateEvent = {
      state: job.state,
      stage: job.stage,
      statusMessage: redactor.textOrNull(job.statusMessage),
      exitStatus: job.exitStatus,
      exitMessage: redactor.textOrNull(job.exitMessage),
      terminated: job.state === 'terminated',
      events: events.map((e) => wireEvent(e, redactor)),
    };
    await write(sseMessage('job', update));
    if (events.length === EVENTS_PER_MESSAGE) await sendJob();
  };

  try {
    res.write('retry: 2000\n\n');
    let r = await rendererAt(o.from);
    const shownFrom = r.offset;
    if (o.from < job.console.start) {
      const gap: GapEvent = { from: o.from, to: job.console.start };
      await write(sseMessage('gap', gap));
    }
    while (!gone.signal.aborted) {
      dirty = false;
      if (changed) {
        changed = false;
        const fresh = await data.job(id);
        if (!fresh) break;
        job = fresh;
        await sendJob();
      }
      if (consoleEnd > job.console.end) {
        // Bytes dropped from the start meanwhile show as a gap when read below.
        job = { ...job, console: { start: job.console.start, end: consoleEnd } };
      }
      if (r.offset < job.console.start) {
        // This stream fell behind the stored window: say so and go on from what is kept.
        await write(sseMessage('gap', { from: r.resumeOffset, to: job.console.start } satisfies GapEvent));
        r = new ConsoleRenderer(job.console.start);
      }
      // Console output up to the end known now, in bounded slices.
      while (!gone.signal.aborted && r.offset < job.console.end) {
        const slice = await data.readConsole(id, r.offset, Math.min(READ_BYTES, job.console.end - r.offset));
        if (slice.data.length === 0) break;
        if (slice.offset !== r.offset) {
          await write(sseMessage('gap', { from: r.resumeOffset, to: slice.offset } satisfies GapEvent));
          r = new ConsoleRenderer(slice.offset);
          continue;
        }
        const done = r.push(slice.data).filter((l) => l.start >= shownFrom);
        const atEnd = r.offset >= job.console.end;
        await sendLines(done, atEnd ? r.pending() : null, job.state !== 'terminated');
      }
      if (job.state === 'terminated' && r.offset >= job.console.end) {
        await write(sseMessage('end', {}));
        break;
      }
      if (!dirty) await new Promise<void>((resolve) => (wake = resolve));
    }
  } catch {
    // The client went away, or the job's data did: the stream just ends.
  } finally {
    clearInterval(heartbeat);
    unwatch();
    res.end();
  }

  async function sendLines(done: Line[], pending: Line | null, live: boolean): Promise<void> {
    const all = pending ? [...done, pending] : done;
    if (all.length === 0) return;
    const lines = await wireLines(
      src(),
      { lines: all, from: all[0]!.start, next: 0, endsUnfinished: pending !== null },
      redactor,
      live,
    );
    const resume = pending ? pending.start : all[all.length - 1]!.end;
    const msg: ConsoleEvent = { lines };
    await write(sseMessage('console', msg, resume));
  }
}
