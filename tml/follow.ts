// Following a job: waiting for it to end, streaming its console, following its events, noting its
// progress. Each rides out an outage of the switchboard (a restart, say) for up to a minute: the
// outage is noted once on stderr, the call is retried, and a console resumes at the byte offset it
// had reached, so nothing is missed and nothing is printed twice.

import type { JobStatus } from '../protocol/switchboard-api.js';
import type { SeqEvent } from '../protocol/switchboard-api.js';
import type { SwitchboardClient } from './client.js';
import { NetworkError, isMissingRoute } from './errors.js';

export type Note = (line: string) => void;

/** How long following keeps trying while the switchboard is unreachable. */
export const OUTAGE_TOLERANCE_MS = 60_000;

/** Tracks one outage: `failed` notes it once and says whether to keep trying, `recovered` ends it. */
export class Outage {
  private since: number | null = null;

  constructor(
    private readonly note: Note,
    readonly toleranceMs = OUTAGE_TOLERANCE_MS,
    private readonly now: () => number = Date.now,
  ) {}

  failed(err: unknown): boolean {
    if (!(err instanceof NetworkError)) return false;
    if (this.since === null) {
      this.since = this.now();
      this.note(`tml: ${err.message}; retrying for up to ${this.toleranceMs / 1000} s`);
    }
    return this.now() - this.since < this.toleranceMs;
  }

  recovered(): void {
    if (this.since !== null) this.note('tml: the switchboard is reachable again');
    this.since = null;
  }
}

/** Resolves after `ms`, or at once when `signal` aborts; leaves no listener behind either way. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * Runs `fn` with a signal of its own that aborts with `parent`: a call that leaves a listener on
 * its signal (an HTTP request does until its answer is read) leaves it on this one, not on the
 * long-lived parent, which would collect one per retry (MaxListenersExceededWarning).
 */
async function withChildSignal<T>(
  parent: AbortSignal | undefined,
  fn: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const child = new AbortController();
  const abort = () => child.abort();
  if (parent?.aborted) child.abort();
  parent?.addEventListener('abort', abort, { once: true });
  try {
    return await fn(child.signal);
  } finally {
    parent?.removeEventListener('abort', abort);
  }
}

type FollowClient = Pick<SwitchboardClient, 'base' | 'status' | 'log' | 'followLog' | 'eventsPage'>;

/** Polls until the job has terminated; null when `timeoutMs` elapsed first. */
export async function waitForJob(
  c: Pick<FollowClient, 'status'>,
  id: string,
  opts: { timeoutMs: number | null; outage: Outage; signal?: AbortSignal },
): Promise<JobStatus | null> {
  const deadline = opts.timeoutMs === null ? Infinity : Date.now() + opts.timeoutMs;
  let delay = 100;
  for (;;) {
    try {
      const s = await c.status(id);
      opts.outage.recovered();
      if (s.state.type === 'terminated') return s;
    } catch (err) {
      if (!opts.outage.failed(err)) throw err;
    }
    if (Date.now() >= deadline || opts.signal?.aborted) return null;
    await sleep(Math.min(delay, deadline - Date.now()), opts.signal);
    delay = Math.min(delay * 2, 1000);
  }
}

/** The switchboard serves no console log (an upstream one). */
export class NoConsoleLog extends Error {
  override name = 'NoConsoleLog';
}

export interface ConsoleFollow {
  /** Byte offset to start at (0: from the beginning). */
  from?: number;
  signal?: AbortSignal;
  outage: Outage;
  /** Each piece of output, with the absolute offset of its first byte. */
  onChunk(chunk: Buffer, offset: number): void;
  /** Output from `from` to `to` is gone: the switchboard keeps only the newest part of a console. */
  onGap?(from: number, to: number): void;
  /** Pause between retries during an outage. */
  retryMs?: number;
}

/**
 * Streams a job's console until the job has terminated and all of its output was delivered
 * (`complete`), or until `signal` aborts. A stream that breaks is resumed at the offset reached;
 * a stream that ends while the job still runs (a switchboard shutting down) is resumed as well.
 */
export async function followConsole(
  c: FollowClient,
  id: string,
  opts: ConsoleFollow,
): Promise<{ offset: number; complete: boolean }> {
  let offset = opts.from ?? 0;
  const deliver = (data: Buffer, start: number) => {
    if (start > offset) opts.onGap?.(offset, start);
    offset = Math.max(offset, start);
    if (data.length === 0) return;
    opts.onChunk(data, offset);
    offset += data.length;
  };
  while (!opts.signal?.aborted) {
    try {
      await withChildSignal(opts.signal, async (signal) => {
        const stream = await c.followLog(id, offset, signal);
        opts.outage.recovered();
        let start = stream.start;
        for await (const chunk of stream.chunks) {
          deliver(chunk, start);
          start = offset;
          if (signal.aborted) return;
        }
      });
      if (opts.signal?.aborted) break;
      // The stream ended: the job has, or the switchboard closed it. The stored log tells which.
      for (;;) {
        const rest = await c.log(id, offset);
        deliver(rest.data, rest.offset);
        if (rest.data.length === 0 || opts.signal?.aborted) {
          if (rest.terminated) return { offset, complete: true };
          break;
        }
      }
      // Not the end: a pause, so that a switchboard that keeps closing streams is not hammered.
      await sleep(opts.retryMs ?? 500, opts.signal);
    } catch (err) {
      if (opts.signal?.aborted) break;
      if (isMissingRoute(err)) throw new NoConsoleLog(`the switchboard at ${c.base} serves no console log`);
      if (!opts.outage.failed(err)) throw err;
      await sleep(opts.retryMs ?? 500, opts.signal);
    }
  }
  return { offset, complete: false };
}

function isTerminatedEvent(e: SeqEvent): boolean {
  return e.kind === 'state' && e.state === 'terminated';
}

/**
 * Delivers a job's events, oldest first, until its `terminated` event (or until `signal`). With
 * sequence numbers it asks for what came after the last one; from a switchboard without them it
 * fetches all and skips as many as it has delivered (events are only ever appended).
 */
export async function followEvents(
  c: Pick<FollowClient, 'eventsPage'>,
  id: string,
  opts: { signal?: AbortSignal; outage: Outage; onEvent(e: SeqEvent): void; pollMs?: number },
): Promise<void> {
  let after: number | undefined;
  let delivered = 0;
  while (!opts.signal?.aborted) {
    let page;
    try {
      page = await c.eventsPage(id, after);
      opts.outage.recovered();
    } catch (err) {
      if (!opts.outage.failed(err)) throw err;
      await sleep(opts.pollMs ?? 1000, opts.signal);
      continue;
    }
    const numbered = page.next !== undefined && page.events.every((e) => e.seq !== null);
    const fresh = numbered
      ? page.events.filter((e) => after === undefined || e.seq! > after)
      : page.events.slice(delivered);
    let ended = false;
    for (const e of fresh) {
      opts.onEvent(e);
      ended ||= isTerminatedEvent(e);
    }
    delivered += fresh.length;
    if (numbered) {
      const last = fresh.at(-1)?.seq ?? after;
      after = page.next ?? last ?? undefined;
      if (page.next !== null && !ended) continue;
    }
    if (ended) return;
    await sleep(opts.pollMs ?? 1000, opts.signal);
  }
}

/** Calls `onStatus` with the job's status every `everyMs` until it has terminated or `signal` aborts. */
export async function watchStatus(
  c: Pick<FollowClient, 'status'>,
  id: string,
  signal: AbortSignal,
  onStatus: (s: JobStatus) => void,
  everyMs = 500,
): Promise<void> {
  while (!signal.aborted) {
    try {
      const s = await c.status(id);
      onStatus(s);
      if (s.state.type === 'terminated') return;
    } catch {
      // Progress is informational; the console stream reports lost connections.
    }
    await sleep(everyMs, signal);
  }
}
