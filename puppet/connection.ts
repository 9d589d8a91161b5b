// The puppet's connection to its supervisor: reconnects with capped exponential backoff, keeps
// requests pending across reconnects, queues events produced while disconnected, gives every
// request a time-out, and learns once per connection which of this project's events the
// supervisor takes (docs/control-socket.md, "The peers in the field").

import { EventEmitter } from 'node:events';
import net from 'node:net';
import { FrameDecoder, decodeFrameBody, encodeFrame } from '../protocol/control-socket/framing.js';
import { MAX_OUTPUT_CHUNK, encodeRunCommandOutputFrame } from '../protocol/control-socket/output-codec.js';
import { attempt } from '../protocol/validation.js';
import {
  ControlMessageError,
  EXTENSIONS,
  parseSupervisorMessage,
  type OutputStream,
  type PuppetEvent,
  type PuppetRequestType,
  type SupervisorEvent,
  type SupervisorResp,
} from '../protocol/control-socket/messages.js';
import type { Logger } from '../protocol/log.js';
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
  log: Logger;
  /** first reconnect delay; doubled per failure up to maxDelayMs */
  minDelayMs?: number;
  maxDelayMs?: number;
  /** events kept while disconnected; beyond it output, then sub-states go first (see Outbox) */
  maxQueuedEvents?: number;
  /** queued or unsent bytes above which output producers are asked to pause */
  highWaterMark?: number;
  /** how long the supervisor has to answer a request once it was sent */
  requestTimeoutMs?: number | undefined;
}

/**
 * What a request got: the supervisor's response, or a refusal. Upstream supervisors refuse a
 * request they cannot parse with a `{"message"}` frame that names no request; a request left
 * unanswered past the time-out, or answered with something this puppet cannot parse, counts as
 * refused too, so that no caller ever waits forever.
 */
export type Reply = SupervisorResp | { type: 'refused'; reason: string };

interface PendingRequest {
  type: PuppetRequestType;
  resolve: (reply: Reply) => void;
  reject: (err: Error) => void;
  /** the socket it was last written to, or null while it waits for one */
  sentOn: net.Socket | null;
  timer: NodeJS.Timeout | null;
  /** belongs to one connection (the capability check): dropped, not resent, when it closes */
  perConnection: boolean;
}

export class ConnectionClosedError extends Error {}

/** Thrown or passed on for an event of this project's extension that the supervisor does not take. */
export class ExtensionUnsupportedError extends Error {}

export type ConnectionState = 'disconnected' | 'handshaking' | 'open';

const EXTENSION_TYPES: ReadonlySet<string> = new Set(EXTENSIONS);

/** Longest part of a supervisor's `{"message"}` text that goes to the log. */
const MAX_LOGGED_MESSAGE = 300;

/**
 * Emits 'connected' () once a connection is open (its capability check done), 'disconnected' ()
 * when one that was at least handshaking closes,
 * 'event' (event: SupervisorEvent, supervisorEventId), and 'drain' () when output producers paused
 * by `sendOutput` returning false may resume.
 */
export class SupervisorConnection extends EventEmitter {
  readonly #opts: Required<ConnectionOptions>;
  #socket: net.Socket | null = null;
  #state: ConnectionState = 'disconnected';
  #extensions: ReadonlySet<string> | null = null;
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
    // an option given as undefined keeps its default
    const given = Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined));
    this.#opts = {
      minDelayMs: 100,
      maxDelayMs: 2000,
      maxQueuedEvents: 10_000,
      highWaterMark: 1024 * 1024,
      requestTimeoutMs: 10_000,
      ...given,
    } as Required<ConnectionOptions>;
    this.#delay = this.#opts.minDelayMs;
    this.#queue = new Outbox(this.#opts.maxQueuedEvents);
  }

  get connected(): boolean {
    return this.#state === 'open';
  }

  /** 'handshaking' while a fresh connection asks which extensions the supervisor takes. */
  get state(): ConnectionState {
    return this.#state;
  }

  /** The extension events the connected supervisor takes; null until it was asked. */
  get extensions(): ReadonlySet<string> | null {
    return this.#extensions;
  }

  start(): void {
    this.#connect();
  }

  /** Sends a request once the connection is open; survives reconnects by resending. */
  request(type: PuppetRequestType): Promise<Reply> {
    return this.#request(type, false);
  }

  #request(type: PuppetRequestType, perConnection: boolean): Promise<Reply> {
    if (this.#closed) return Promise.reject(new ConnectionClosedError('connection closed'));
    const id = this.#nextRequestId++;
    return new Promise((resolve, reject) => {
      const p: PendingRequest = { type, resolve, reject, sentOn: null, timer: null, perConnection };
      this.#pending.set(id, p);
      this.#opts.log.debug(`request ${id} (${type})`);
      const socket = this.#socket;
      if (socket && (this.#state === 'open' || perConnection)) this.#sendRequest(socket, id, p);
    });
  }

  #sendRequest(socket: net.Socket, id: number, p: PendingRequest): void {
    p.sentOn = socket;
    if (p.timer) clearTimeout(p.timer);
    p.timer = setTimeout(() => {
      const s = this.#opts.requestTimeoutMs / 1000;
      this.#settle(id, { type: 'refused', reason: `no answer within ${s} s` });
      this.#opts.log.warn(`supervisor did not answer request ${id} (${p.type}) within ${s} s`);
    }, this.#opts.requestTimeoutMs);
    socket.write(encodeFrame({ request_id: id, request: { type: p.type } }));
  }

  #settle(id: number, reply: Reply): void {
    const p = this.#pending.get(id);
    if (!p) return;
    this.#pending.delete(id);
    if (p.timer) clearTimeout(p.timer);
    p.resolve(reply);
  }

  /**
   * Sends an event; queues it while disconnected. Resolves once it was handed to the socket, so
   * e.g. `shutdown` is out before the host goes down; rejects with QueueFullError if the full
   * queue gave it up later, or ExtensionUnsupportedError if it is one of this project's events
   * and the supervisor it would go to does not take it. Throws, synchronously, FrameEncodeError
   * if it is too large, QueueFullError if the full queue refused it, and
   * ExtensionUnsupportedError if the connected supervisor is known not to take it, so a caller
   * can tell its own client at once.
   */
  sendEvent(event: PuppetEvent): Promise<void> {
    if (this.#closed) return Promise.reject(new ConnectionClosedError('connection closed'));
    const extension = EXTENSION_TYPES.has(event.type) ? event.type : undefined;
    if (extension !== undefined && this.#extensions !== null && !this.#extensions.has(extension))
      throw unsupported(extension);
    const frame = encodeFrame({ puppet_event_id: this.#nextEventId, event });
    let written!: (err?: Error) => void;
    const delivered = new Promise<void>((resolve, reject) => {
      written = (err) => (err ? reject(err) : resolve());
    });
    const item: Queued = { frame, keep: keepRank(event.type), written };
    if (extension !== undefined) item.extension = extension;
    this.#enqueue(item);
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
    const backlog = this.#state === 'open' ? this.#socket!.writableLength : this.#queue.bytes;
    if (backlog < this.#opts.highWaterMark) return true;
    this.#wantDrain = true;
    return false;
  }

  close(): void {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    const err = new ConnectionClosedError('connection closed');
    for (const p of this.#pending.values()) {
      if (p.timer) clearTimeout(p.timer);
      p.reject(err);
    }
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
    if (this.#state === 'open') {
      this.#write(this.#socket!, item);
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
      this.#state = 'handshaking';
      this.#opts.log.info(`connected to supervisor at ${host}:${port}`);
      void this.#handshake(socket);
    });
    socket.on('data', (chunk: Buffer) => {
      const { frames, error } = decoder.push(chunk);
      for (const f of frames) this.#handleFrame(socket, f);
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
      if (wasConnected) {
        this.#socket = null;
        this.#state = 'disconnected';
        this.#extensions = null;
      }
      for (const [id, p] of this.#pending) {
        if (p.sentOn !== socket) continue;
        if (p.timer) clearTimeout(p.timer);
        p.timer = null;
        p.sentOn = null;
        if (p.perConnection) this.#settle(id, { type: 'refused', reason: 'connection lost' });
      }
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

  // Before anything else goes out on a connection: an upstream supervisor answers our events
  // with `{"message"}` frames, which would read as refusals of our requests, and drops them.
  async #handshake(socket: net.Socket): Promise<void> {
    let reply: Reply;
    try {
      reply = await this.#request('extensions', true);
    } catch {
      return; // closed meanwhile
    }
    if (this.#socket !== socket) return;
    this.#extensions = new Set(reply.type === 'extensions' ? reply.extensions : []);
    const taken = EXTENSIONS.filter((e) => this.#extensions!.has(e));
    if (taken.length === EXTENSIONS.length)
      this.#opts.log.info(`supervisor takes workload reports (${taken.join(', ')})`);
    else
      this.#opts.log.warn(
        `supervisor cannot take workload reports` +
          (taken.length ? ` other than ${taken.join(', ')}` : '') +
          ` (extensions request ${reply.type === 'refused' ? `refused: ${reply.reason}` : `answered with ${reply.type}`})`,
      );
    this.#state = 'open';
    this.#flush(socket);
    this.emit('connected');
  }

  #flush(socket: net.Socket): void {
    const queue = [...this.#unsent, ...this.#queue.take()];
    this.#unsent = [];
    let refused = 0;
    const deliverable = queue.filter((q) => {
      if (q.extension === undefined || this.#extensions!.has(q.extension)) return true;
      q.written?.(unsupported(q.extension));
      refused++;
      return false;
    });
    if (deliverable.length > 0)
      this.#opts.log.info(`delivering ${deliverable.length} event(s) queued while disconnected`);
    if (refused > 0)
      this.#opts.log.warn(
        `dropped ${refused} workload report(s) queued while disconnected: this supervisor cannot take them`,
      );
    for (const q of deliverable) this.#write(socket, q);
    for (const [id, p] of this.#pending) if (p.sentOn === null && !p.perConnection) this.#sendRequest(socket, id, p);
    this.#maybeDrain();
  }

  #maybeDrain(): void {
    if (!this.#wantDrain || this.#state !== 'open' || this.#socket!.writableLength >= this.#opts.highWaterMark) return;
    this.#wantDrain = false;
    this.emit('drain');
  }

  /** The request a refusal without an id answers: the oldest one still waiting on this socket. */
  #oldestOn(socket: net.Socket): number | undefined {
    for (const [id, p] of this.#pending) if (p.sentOn === socket) return id;
    return undefined;
  }

  #handleFrame(socket: net.Socket, body: Buffer): void {
    const log = this.#opts.log;
    const json = attempt(() => decodeFrameBody(body));
    if (!json.ok) {
      log.warn(`ignoring frame from supervisor: ${json.error.message}`);
      return;
    }
    const parsed = attempt(() => parseSupervisorMessage(json.value));
    if (!parsed.ok) {
      const { message } = parsed.error;
      const requestId = parsed.error instanceof ControlMessageError ? parsed.error.requestId : undefined;
      if (requestId !== undefined && this.#pending.has(requestId)) {
        this.#settle(requestId, { type: 'refused', reason: `unusable answer: ${message}` });
      }
      log.warn(`ignoring message from supervisor: ${message}`);
      return;
    }
    const msg = parsed.value;
    if ('response' in msg) {
      if (!this.#pending.has(msg.request_id)) {
        log.debug(`ignoring response to unknown request ${msg.request_id}`);
        return;
      }
      this.#settle(msg.request_id, msg.response);
    } else if ('event' in msg) {
      this.emit('event', msg.event satisfies SupervisorEvent, msg.supervisor_event_id);
    } else {
      const text = msg.message.slice(0, MAX_LOGGED_MESSAGE);
      const id = this.#oldestOn(socket);
      if (id === undefined) {
        log.warn(`supervisor reported an error: ${text}`);
        return;
      }
      log.info(`supervisor refused request ${id} (${this.#pending.get(id)!.type}): ${text}`);
      this.#settle(id, { type: 'refused', reason: text });
    }
  }
}

function unsupported(extension: string): ExtensionUnsupportedError {
  return new ExtensionUnsupportedError(
    `the supervisor cannot take workload reports (it does not know this project's ${extension} event)`,
  );
}
