// A small QMP client (QEMU's JSON machine protocol over a Unix socket): the greeting and capability
// negotiation, commands with replies, and events. QEMU is trusted, but its lines are still bounded
// and parsed defensively, so a confused peer costs an error, not memory.

import { EventEmitter } from 'node:events';
import net from 'node:net';
import { isObject } from '../../../protocol/validation.js';

const MAX_LINE = 1024 * 1024;

export interface QmpEvent {
  event: string;
  data: Record<string, unknown>;
}

/** Splits a byte stream into lines; a line longer than the cap is an error. */
export class LineSplitter {
  private partial = '';
  constructor(private readonly maxLine = MAX_LINE) {}
  push(chunk: string): { lines: string[]; error: string | null } {
    const parts = (this.partial + chunk).split('\n');
    this.partial = parts.pop() ?? '';
    if (this.partial.length > this.maxLine) return { lines: parts, error: `line longer than ${this.maxLine} bytes` };
    return { lines: parts.filter((l) => l.trim() !== ''), error: null };
  }
}

export type QmpMessage =
  | { kind: 'greeting' }
  | { kind: 'return'; id: unknown; value: unknown }
  | { kind: 'error'; id: unknown; message: string }
  | { kind: 'event'; event: QmpEvent }
  | { kind: 'invalid'; reason: string };

/** Classifies one QMP line. */
export function parseQmpLine(line: string): QmpMessage {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return { kind: 'invalid', reason: 'not JSON' };
  }
  if (!isObject(value)) return { kind: 'invalid', reason: 'not an object' };
  if ('QMP' in value) return { kind: 'greeting' };
  if ('return' in value) return { kind: 'return', id: value.id, value: value.return };
  if ('error' in value) {
    const e = value.error;
    const desc = isObject(e) && typeof e.desc === 'string' ? e.desc : 'unknown error';
    return { kind: 'error', id: value.id, message: desc };
  }
  if (typeof value.event === 'string') {
    return { kind: 'event', event: { event: value.event, data: isObject(value.data) ? value.data : {} } };
  }
  return { kind: 'invalid', reason: 'neither a reply nor an event' };
}

/** Emits 'event' (QmpEvent) and 'close' (). */
export class QmpClient extends EventEmitter {
  private nextId = 0;
  private readonly pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  private closed = false;

  private constructor(private readonly socket: net.Socket) {
    super();
  }

  /** Connects (retrying while QEMU creates the socket) and negotiates capabilities. */
  static async connect(path: string, opts: { timeoutMs: number; signal?: AbortSignal }): Promise<QmpClient> {
    const deadline = Date.now() + opts.timeoutMs;
    for (;;) {
      if (opts.signal?.aborted) throw new Error('aborted');
      try {
        const socket = await new Promise<net.Socket>((resolve, reject) => {
          const s = net.createConnection(path);
          s.once('connect', () => resolve(s));
          s.once('error', reject);
        });
        const client = new QmpClient(socket);
        await client.start();
        return client;
      } catch (err) {
        if (Date.now() > deadline) throw new Error(`cannot connect to QMP at ${path}: ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  private start(): Promise<void> {
    const splitter = new LineSplitter();
    let greeted: () => void;
    const greeting = new Promise<void>((resolve) => (greeted = resolve));
    this.socket.setEncoding('utf8');
    this.socket.on('data', (chunk: string) => {
      const { lines, error } = splitter.push(chunk);
      for (const line of lines) {
        const msg = parseQmpLine(line);
        if (msg.kind === 'greeting') greeted();
        else if (msg.kind === 'event') this.emit('event', msg.event);
        else if (msg.kind === 'return' || msg.kind === 'error') {
          const waiter = typeof msg.id === 'number' ? this.pending.get(msg.id) : undefined;
          if (waiter === undefined) continue;
          this.pending.delete(msg.id as number);
          if (msg.kind === 'return') waiter.resolve(msg.value);
          else waiter.reject(new Error(msg.message));
        }
      }
      if (error !== null) this.socket.destroy(new Error(`QMP: ${error}`));
    });
    this.socket.on('error', () => {});
    this.socket.on('close', () => {
      this.closed = true;
      for (const w of this.pending.values()) w.reject(new Error('QMP connection closed'));
      this.pending.clear();
      this.emit('close');
    });
    return Promise.race([
      greeting,
      new Promise<void>((_, reject) => this.socket.once('close', () => reject(new Error('closed before greeting')))),
    ]).then(() => this.execute('qmp_capabilities').then(() => undefined));
  }

  execute(command: string, args?: Record<string, unknown>): Promise<unknown> {
    if (this.closed) return Promise.reject(new Error('QMP connection closed'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.socket.write(
        JSON.stringify(args === undefined ? { execute: command, id } : { execute: command, arguments: args, id }) +
          '\n',
      );
    });
  }

  /** Runs a human monitor command (e.g. `info usernet`) and returns its text. */
  async hmp(commandLine: string): Promise<string> {
    const out = await this.execute('human-monitor-command', { 'command-line': commandLine });
    return typeof out === 'string' ? out : '';
  }

  close(): void {
    this.socket.destroy();
  }
}
