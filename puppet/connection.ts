// The puppet's connection to its supervisor: reconnects with capped exponential backoff, keeps
// requests pending across reconnects, and queues events produced while disconnected.

import { EventEmitter } from 'node:events';
import net from 'node:net';
import { FrameDecoder, decodeFrameBody, encodeFrame } from '../protocol/control-socket/framing.js';
import { MAX_OUTPUT_CHUNK, encodeRunCommandOutputFrame } from '../protocol/control-socket/output-codec.js';
import {
  parseSupervisorMessage,
  type OutputStream,
  type PuppetEvent,
  type PuppetRequestType,
  type SupervisorEvent,
  type SupervisorResp,
} from '../protocol/control-socket/messages.js';
import type { Log } from './log.js';
import { Keep, Outbox, keepRank, type Queued } from './outbox.js';

export interface SocketAddress {
  host: string;
  port: number;
}

/** Parses `IP:PORT`, `HOST:PORT` or `[IPv6]:PORT`. Throws with a one-line message. */
export function parseSocketAddress(text: string): SocketAddress {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(text.trim()) ?? /^([^:]+):(\d+)$/.exec(text.trim());
  const port = m ? Number(m[2]) : NaN;
  if (!m || !(port > 0 && port < 65536))
    throw new Error(`invalid socket address ${JSON.stringify(text)} (expected IP:PORT)`);
  return { host: m[1]!, port };
}

export interface ConnectionOptions {
  address: SocketAddress;
  log: Log;
  /** first reconnect delay; doubled per failure up to maxDelayMs */
  minDelayMs?: number;
  maxDelayMs?: number;
  /** events kept while disconnected; beyond it output, then sub-states go first (see Outbox) */
  maxQueuedEvents?: number;
  /** queued or unsent bytes above which output producers are asked to pause */
  highWaterMark?: number;
}

interface PendingRequest {
  type: PuppetRequestType;
  resolve: (resp: SupervisorResp) => void;
  reject: (err: Error) => void;
}

export class ConnectionClosedError extends Error {}

/**
 * Emits 'connected' (), 'disconnected' (), 'event' (event: SupervisorEvent, supervisorEventId),
 * and 'drain' () when output producers paused by `sendOutput` returning false may resume.
 */
export class SupervisorConnection extends EventEmitter {
  readonly #opts: Required<ConnectionOptions>;
  #socket: net.Socket | null = null;
  #connecting = false;
  #closed = false;
  #delay: number;
  #timer: NodeJS.Timeout | null = null;
  #nextRequestId = 0;
  #nextEventId = 0;
  #pending = new Map<number, PendingRequest>();
  #queue: Outbox;
  #unsent: Queued[] = [];
  #wantDrain = false;

  constructor(opts: ConnectionOptions) {
    super();
    this.#opts = { minDelayMs: 100, maxDelayMs: 2000, maxQueuedEvents: 10_000, highWaterMark: 1024 * 1024, ...opts };
    this.#delay = this.#opts.minDelayMs;
    this.#queue = new Outbox(this.#opts.maxQueuedEvents);
  }

  get connected(): boolean {
    return this.#socket !== null;
  }

  start(): void {
    this.#connect();
  }

  /** Sends a request and resolves with its response; survives reconnects by resending. */
  request(type: PuppetRequestType): Promise<SupervisorResp> {
    if (this.#closed) return Promise.reject(new ConnectionClosedError('connection closed'));
    const id = this.#nextRequestId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { type, resolve, reject });
      this.#opts.log.debug(`request ${id} (${type})`);
      if (this.#socket) this.#socket.write(encodeFrame({ request_id: id, request: { type } }));
    });
  }

  /**
   * Sends an event; queues it while disconnected. Resolves once it was handed to the socket, so
   * e.g. `shutdown` is out before the host goes down; rejects with QueueFullError if the full
   * queue gave it up later. Throws, synchronously, FrameEncodeError if it is too large and
   * QueueFullError if the full queue refused it, so a caller can tell its own client at once.
   */
  sendEvent(event: PuppetEvent): Promise<void> {
    if (this.#closed) return Promise.reject(new ConnectionClosedError('connection closed'));
    const frame = encodeFrame({ puppet_event_id: this.#nextEventId, event });
    let written!: (err?: Error) => void;
    const delivered = new Promise<void>((resolve, reject) => {
      written = (err) => (err ? reject(err) : resolve());
    });
    this.#enqueue({ frame, keep: keepRank(event.type), written });
    this.#opts.log.debug(`event ${this.#nextEventId} (${event.type})`);
    this.#nextEventId++;
    return delivered;
  }

  /** Sends command output; false means the producer should pause until 'drain'. */
  sendOutput(supervisorEventId: number, stream: OutputStream, chunk: Uint8Array): boolean {
    if (this.#closed) return true;
    for (let at = 0; at < chunk.length; at += MAX_OUTPUT_CHUNK) {
      const piece = chunk.subarray(at, at + MAX_OUTPUT_CHUNK);
      this.#enqueue({
        frame: encodeRunCommandOutputFrame(this.#nextEventId++, supervisorEventId, stream, piece),
        keep: Keep.Output,
      });
    }
    const backlog = this.#socket ? this.#socket.writableLength : this.#queue.bytes;
    if (backlog < this.#opts.highWaterMark) return true;
    this.#wantDrain = true;
    return false;
  }

  close(): void {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    const err = new ConnectionClosedError('connection closed');
    for (const p of this.#pending.values()) p.reject(err);
    this.#pending.clear();
    for (const q of [...this.#unsent, ...this.#queue.take()]) q.written?.(err);
    this.#unsent = [];
    this.#socket?.end();
  }

  #write(socket: net.Socket, item: Queued): void {
    socket.write(item.frame, (err) => {
      if (!err) item.written?.();
      else if (!this.#closed)
        this.#unsent.push(item); // the socket died under it: send again later
      else item.written?.(err);
    });
  }

  #enqueue(item: Queued): void {
    if (this.#socket) {
      this.#write(this.#socket, item);
      return;
    }
    let dropped: Queued | null;
    try {
      dropped = this.#queue.push(item);
    } catch (e) {
      this.#opts.log.warn(
        `event queue full (${this.#opts.maxQueuedEvents} events) while disconnected; refused a new event`,
      );
      throw e;
    }
    if (dropped) {
      const what =
        dropped.keep === Keep.Output ? 'command output' : dropped.keep === Keep.Substate ? 'sub-state report' : 'event';
      this.#opts.log.warn(
        `event queue full (${this.#opts.maxQueuedEvents} events) while disconnected; dropped the oldest ${what}`,
      );
    }
  }

  #connect(): void {
    if (this.#closed || this.#connecting || this.#socket) return;
    this.#connecting = true;
    const { host, port } = this.#opts.address;
    const socket = net.connect({ host, port, noDelay: true });
    const decoder = new FrameDecoder();
    socket.once('connect', () => {
      this.#connecting = false;
      this.#delay = this.#opts.minDelayMs;
      this.#socket = socket;
      this.#opts.log.info(`connected to supervisor at ${host}:${port}`);
      this.#flush(socket);
      this.emit('connected');
    });
    socket.on('data', (chunk: Buffer) => {
      const { frames, error } = decoder.push(chunk);
      for (const f of frames) this.#handleFrame(f);
      if (error !== null) {
        this.#opts.log.warn(`protocol error from supervisor, reconnecting: ${error}`);
        socket.destroy();
      }
    });
    socket.on('drain', () => this.#maybeDrain());
    socket.on('error', (err) => this.#opts.log.debug(`control socket error: ${err.message}`));
    socket.on('close', () => {
      const wasConnected = this.#socket === socket;
      this.#connecting = false;
      this.#socket = null;
      if (this.#closed) return;
      if (wasConnected) {
        this.#opts.log.warn('lost connection to supervisor');
        this.emit('disconnected');
      }
      const delay = this.#delay;
      this.#delay = Math.min(this.#delay * 2, this.#opts.maxDelayMs);
      this.#opts.log.debug(`reconnecting in ${delay} ms`);
      this.#timer = setTimeout(() => {
        this.#timer = null;
        this.#connect();
      }, delay);
    });
  }

  #flush(socket: net.Socket): void {
    const queue = [...this.#unsent, ...this.#queue.take()];
    this.#unsent = [];
    if (queue.length > 0) this.#opts.log.info(`delivering ${queue.length} event(s) queued while disconnected`);
    for (const q of queue) this.#write(socket, q);
    for (const [id, p] of this.#pending) socket.write(encodeFrame({ request_id: id, request: { type: p.type } }));
    this.#maybeDrain();
  }

  #maybeDrain(): void {
    if (!this.#wantDrain || !this.#socket || this.#socket.writableLength >= this.#opts.highWaterMark) return;
    this.#wantDrain = false;
    this.emit('drain');
  }

  #handleFrame(body: Buffer): void {
    const log = this.#opts.log;
    const json = decodeFrameBody(body);
    if (!json.ok) {
      log.warn(`ignoring frame from supervisor: ${json.error}`);
      return;
    }
    const parsed = parseSupervisorMessage(json.value);
    if (!parsed.ok) {
      if (parsed.requestId !== undefined) {
        const p = this.#pending.get(parsed.requestId);
        this.#pending.delete(parsed.requestId);
        p?.reject(new Error(`supervisor answered request ${parsed.requestId} with ${parsed.error}`));
      }
      log.warn(`ignoring message from supervisor: ${parsed.error}`);
      return;
    }
    const msg = parsed.value;
    if ('response' in msg) {
      const p = this.#pending.get(msg.request_id);
      if (!p) {
        log.debug(`ignoring response to unknown request ${msg.request_id}`);
        return;
      }
      this.#pending.delete(msg.request_id);
      p.resolve(msg.response);
    } else if ('event' in msg) {
      this.emit('event', msg.event satisfies SupervisorEvent, msg.supervisor_event_id);
    } else {
      log.warn(`supervisor reported an error: ${msg.message}`);
    }
  }
}
