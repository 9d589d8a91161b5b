// A read-write console: a running job's console output on stdout, and what the user types sent to
// its host's console input (`POST /jobs/:id/console`, our extension) in order, in chunks the
// switchboard takes. Ctrl-] (or the end of stdin) detaches, as in telnet and virsh; on a terminal,
// stdin is raw, so Ctrl-C and the arrow keys reach the host.

import type { Readable } from 'node:stream';
import { MAX_CONSOLE_INPUT_BYTES } from '../protocol/switchboard-ws.js';
import type { JobStatus } from '../protocol/switchboard-api.js';
import type { SwitchboardClient } from './client.js';
import { note } from './context.js';
import { NoConsoleLog, Outage, followConsole, type Note } from './follow.js';

/** Ctrl-]: ends the session; never sent to the host. */
export const DETACH_BYTE = 0x1d;

/** Typed input not yet accepted by the switchboard beyond this is dropped (a paste into a stalled link). */
export const MAX_PENDING_INPUT_BYTES = 256 * 1024;

/** Splits typed bytes into chunks of at most `max`, up to a detach byte (which ends the input). */
export function splitInput(data: Buffer, max = MAX_CONSOLE_INPUT_BYTES): { chunks: Buffer[]; detach: boolean } {
  const at = data.indexOf(DETACH_BYTE);
  const input = at < 0 ? data : data.subarray(0, at);
  const chunks: Buffer[] = [];
  for (let i = 0; i < input.length; i += max) chunks.push(input.subarray(i, i + max));
  return { chunks, detach: at >= 0 };
}

/** Sends chunks one at a time, in order; a refusal is noted once and the rest dropped meanwhile. */
export class InputSender {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private running: Promise<void> | null = null;
  private lastRefusal: string | null = null;
  private droppedNoted = false;

  constructor(
    private readonly send: (data: Buffer) => Promise<unknown>,
    private readonly note: Note,
    private readonly maxPending = MAX_PENDING_INPUT_BYTES,
  ) {}

  push(chunks: Buffer[]): void {
    for (const c of chunks) {
      if (this.pendingBytes + c.length > this.maxPending) {
        if (!this.droppedNoted) this.note('tml: the switchboard is not keeping up; dropping typed input');
        this.droppedNoted = true;
        continue;
      }
      this.pending.push(c);
      this.pendingBytes += c.length;
    }
    if (this.running === null && this.pending.length > 0) {
      // `finally` runs after this assignment, even when the queue empties at once.
      this.running = this.drain().finally(() => (this.running = null));
    }
  }

  /** Resolves once everything pushed so far was sent (or refused). */
  async flushed(): Promise<void> {
    while (this.running !== null) await this.running;
  }

  private async drain(): Promise<void> {
    while (this.pending.length > 0) {
      const chunk = this.pending.shift()!;
      this.pendingBytes -= chunk.length;
      try {
        await this.send(chunk);
        this.lastRefusal = null;
        this.droppedNoted = false;
      } catch (err) {
        const why = err instanceof Error ? err.message : String(err);
        if (why !== this.lastRefusal) this.note(`tml: console input not delivered: ${why}`);
        this.lastRefusal = why;
      }
    }
  }
}

export interface AttachOptions {
  /** Console offset to start printing at. */
  from: number;
  input: Readable & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };
  onOutput(chunk: Buffer): void;
  note: Note;
  outage: Outage;
}

export type AttachEnd = { kind: 'detached' } | { kind: 'ended' };

type AttachClient = Pick<SwitchboardClient, 'base' | 'status' | 'log' | 'followLog' | 'eventsPage' | 'consoleInput'>;

/** Attaches to a job's console until the user detaches or the job ends with all its output shown. */
export async function attachConsole(c: AttachClient, id: string, o: AttachOptions): Promise<AttachEnd> {
  const stop = new AbortController();
  let detached = false;
  const sender = new InputSender((data) => c.consoleInput(id, data), o.note);
  const detach = () => {
    detached = true;
    stop.abort();
  };
  const onData = (data: Buffer) => {
    if (detached) return;
    const { chunks, detach: wantsDetach } = splitInput(data);
    sender.push(chunks);
    if (wantsDetach) detach();
  };
  // Without a terminal, Ctrl-C is a signal, not a byte: it detaches.
  const onSigint = () => detach();
  const raw = o.input.isTTY === true && typeof o.input.setRawMode === 'function';
  if (raw) o.input.setRawMode!(true);
  else process.on('SIGINT', onSigint);
  o.input.on('data', onData);
  o.input.once('end', detach);
  o.input.resume();
  try {
    await followConsole(c, id, { from: o.from, signal: stop.signal, outage: o.outage, onChunk: o.onOutput });
  } catch (err) {
    if (err instanceof NoConsoleLog)
      throw new Error(`the switchboard at ${c.base} serves no console log (upstream's has none)`);
    throw err;
  } finally {
    o.input.off('data', onData);
    o.input.off('end', detach);
    o.input.pause();
    if (raw) o.input.setRawMode!(false);
    else process.off('SIGINT', onSigint);
    await sender.flushed();
  }
  return detached ? { kind: 'detached' } : { kind: 'ended' };
}

/** The console's current end: where an attach starts when the stored output is not wanted. */
export async function consoleEnd(c: Pick<SwitchboardClient, 'log'>, id: string): Promise<number> {
  return (await c.log(id, Number.MAX_SAFE_INTEGER)).next;
}

/** `run --keep-alive` after its text: a read-write console; the job's final status if it ended meanwhile. */
export async function keepConsole(
  c: SwitchboardClient,
  id: string,
  which: 'completion' | 'error',
  from: number,
  onOutput: (chunk: Buffer) => void,
): Promise<JobStatus | null> {
  note(`job ${id}: ${which} text found; the console is read-write now (Ctrl-] detaches and ends the job)`);
  const end = await attachConsole(c, id, { from, input: process.stdin, onOutput, note, outage: new Outage(note) });
  if (end.kind === 'detached') return null;
  return c.status(id);
}
