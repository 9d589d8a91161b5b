// `tml job run` after the enqueue, as mq's `run` flow: stream the console, stop at the completion
// or error text, at the completion time-out or on Ctrl-C, else when the job ends. It decides how
// the run ended; the command cancels the job where that frees the board and picks the exit code.

import type { ExitStatus } from '../protocol/job.js';
import type { JobStatus } from '../protocol/switchboard-api.js';
import type { SwitchboardClient } from './client.js';
import { NoConsoleLog, followConsole, waitForJob, watchStatus, type Note, type Outage } from './follow.js';
import { outcomeOf, progressText } from './format.js';
import type { RunEnd } from './outcome.js';

/** Console text kept for matching, so that a pattern split across chunks is still found. */
export const MATCH_WINDOW = 65536;

/** Matches the completion and error texts against the most recent output; the error text wins a tie. */
export class ConsoleMatcher {
  private window = '';
  private readonly decoder = new TextDecoder();

  constructor(
    private readonly completion: RegExp | null,
    private readonly error: RegExp | null,
    private readonly size = MATCH_WINDOW,
  ) {}

  push(chunk: Buffer): 'completion' | 'error' | null {
    if (!this.completion && !this.error) return null;
    this.window = (this.window + this.decoder.decode(chunk, { stream: true })).slice(-this.size);
    if (this.error?.test(this.window)) return 'error';
    if (this.completion?.test(this.window)) return 'completion';
    return null;
  }
}

export interface RunOptions {
  completion: RegExp | null;
  error: RegExp | null;
  /** From the moment the job leaves the queue: how long to wait for the completion text (or the end). */
  completionTimeoutMs: number | null;
  onConsole(chunk: Buffer): void;
  note: Note;
  outage: Outage;
  /** Aborts on Ctrl-C. */
  interrupt: AbortSignal;
}

type RunClient = Pick<SwitchboardClient, 'base' | 'status' | 'log' | 'followLog' | 'eventsPage'>;

/** Follows an enqueued job until the run ends; the job's last status when it ended by itself. */
export async function followRun(
  c: RunClient,
  id: string,
  o: RunOptions,
): Promise<{ end: RunEnd; status: JobStatus | null; offset: number }> {
  const stop = new AbortController();
  let reason: Exclude<RunEnd['kind'], 'ended'> | null = null;
  let which: 'completion' | 'error' = 'completion';
  const end = (r: typeof reason) => {
    reason ??= r;
    stop.abort();
  };
  const onInterrupt = () => end('interrupted');
  if (o.interrupt.aborted) onInterrupt();
  o.interrupt.addEventListener('abort', onInterrupt, { once: true });

  let timer: NodeJS.Timeout | null = null;
  let last = '';
  const progress = watchStatus(c, id, stop.signal, (s) => {
    const now = progressText(s);
    if (now !== last && s.state.type !== 'terminated') o.note(`job ${id}: ${now}`);
    last = now;
    if (o.completionTimeoutMs !== null && timer === null && s.state.type !== 'queued') {
      timer = setTimeout(() => end('completion_timeout'), o.completionTimeoutMs);
    }
  });
  const matcher = new ConsoleMatcher(o.completion, o.error);
  // Where the console printed so far ends: `--keep-alive` goes on from there.
  let offset = 0;
  try {
    try {
      await followConsole(c, id, {
        signal: stop.signal,
        outage: o.outage,
        onChunk: (chunk, at) => {
          offset = at + chunk.length;
          o.onConsole(chunk);
          const m = matcher.push(chunk);
          if (m) {
            which = m;
            end('matched');
          }
        },
        onGap: (from, to) => o.note(`tml: ${to - from} bytes of older console output were dropped by the switchboard`),
      });
    } catch (err) {
      if (!(err instanceof NoConsoleLog)) throw err;
      o.note(`job ${id}: ${err.message}; waiting for the job to end`);
    }
    const final = reason ? null : await waitForJob(c, id, { timeoutMs: null, outage: o.outage, signal: stop.signal });
    if (reason === 'matched') return { end: { kind: 'matched', which }, status: null, offset };
    if (reason) return { end: { kind: reason }, status: null, offset };
    const outcome = outcomeOf(final!);
    const status: ExitStatus = outcome?.status ?? 'internal_supervisor_error';
    return { end: { kind: 'ended', status }, status: final, offset };
  } finally {
    stop.abort();
    if (timer) clearTimeout(timer);
    o.interrupt.removeEventListener('abort', onInterrupt);
    await progress;
  }
}
