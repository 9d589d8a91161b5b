// The supervisor's WebSocket link to its switchboard: connects with the supervisor's token, follows
// the keepalive of the switchboard's `tml-socket-config` header (reconnects when its pings stop),
// reconnects with capped exponential backoff, answers status requests, and keeps events produced
// while the link is down (bounded) to deliver them, in order, once it is back. Given several URLs
// (replicas of one switchboard), each reconnect goes to the next one in turn.

import { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import WebSocket from 'ws';
import { API_PREFIX } from '../protocol/switchboard-api.js';
import {
  CLOSE_CODES,
  EXTENSIONS_HEADER,
  SOCKET_CONFIG_HEADER,
  WEBSOCKET_SUBPROTOCOL,
  parseExtToSupervisor,
  parseExtensionsHeader,
  parseSocketConfig,
  parseToSupervisorForJob,
  type ExtToSwitchboard,
  type StartJobMessage,
  type SupervisorStatus,
  type ToSwitchboard,
  type WsExtension,
} from '../protocol/switchboard-ws.js';
import { ValidationError, attempt } from '../protocol/validation.js';
import type { Logger } from '../protocol/log.js';

export interface SwitchboardHandlers {
  status(): SupervisorStatus;
  startJob(msg: StartJobMessage): void;
  stopJob(jobId: string): void;
  /** A start_job that named its job but could not be used. */
  rejectStart(jobId: string, message: string): void;
  /** Bytes for a job's console input (our console_input extension). */
  consoleInput?(jobId: string, data: Buffer): void;
}

export interface SwitchboardConnectionOptions {
  /**
   * Base URL of the switchboard: http(s)://HOST:PORT or ws(s)://HOST:PORT, optionally with a path
   * prefix; or several (replicas of one switchboard), tried in turn: the first, then on each failure
   * the next.
   */
  url: string | readonly string[];
  supervisorId: string;
  token: string;
  handlers: SwitchboardHandlers;
  log: Logger;
  /** The backoff grows once per round: a failure moves on to the next URL at once, the last one waits. */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /**
   * Against a switchboard that sends no `tml-socket-config`: the supervisor pings this often and
   * drops a connection whose pong does not come back by the next ping.
   */
  heartbeatMs?: number;
  /** Messages kept while disconnected; beyond it console output is dropped first. */
  maxQueued?: number;
  /** Our WebSocket extensions this supervisor takes, named in its upgrade request. */
  extensions?: readonly WsExtension[];
}

/**
 * Refusals that retrying cannot fix: the id or token is wrong, or another instance holds the id.
 * (Upstream switchboards answer 403 to an unknown id and to a wrong token alike.)
 */
function fatalRefusal(status: number, supervisorId: string): string | null {
  switch (status) {
    case 401:
      return 'the switchboard rejected the supervisor token';
    case 403:
      return `the switchboard refused supervisor id ${supervisorId} with this token (check both)`;
    case 404:
      return `the switchboard does not know supervisor id ${supervisorId}`;
    case 409:
      return `another tml-supervisor instance holds supervisor id ${supervisorId} at the switchboard`;
    default:
      return null;
  }
}

const MAX_REFUSAL_BODY = 4096;

/** The one-line reason in a refusal's body (ours: `{"error": {"message"}}`), or null. */
function refusalDetail(body: string): string | null {
  try {
    const msg = (JSON.parse(body) as { error?: { message?: unknown } }).error?.message;
    return typeof msg === 'string' ? msg.replace(/[\r\n]+/g, ' ').slice(0, 300) : null;
  } catch {
    return null;
  }
}

export function connectUrl(base: string, supervisorId: string): string {
  let url: URL;
  try {
    url = new URL(base);
  } catch {
    throw new Error(`invalid switchboard URL ${JSON.stringify(base)}`);
  }
  const schemes: Record<string, string> = { 'http:': 'ws:', 'https:': 'wss:', 'ws:': 'ws:', 'wss:': 'wss:' };
  const scheme = schemes[url.protocol];
  if (scheme === undefined) throw new Error(`switchboard URL ${JSON.stringify(base)} must be http(s):// or ws(s)://`);
  url.protocol = scheme;
  url.pathname = `${url.pathname.replace(/\/+$/, '')}${API_PREFIX}/supervisors/${encodeURIComponent(supervisorId)}/connect`;
  url.search = '';
  url.hash = '';
  return url.toString();
}

/**
 * Emits 'connected', 'disconnected', and 'fatal' (Error) when the switchboard refuses us for good
 * (with several URLs: when each refused us so on its latest attempt).
 */
export class SwitchboardConnection extends EventEmitter {
  /** The base URLs as given (for log lines) and the connect URLs derived from them. */
  private readonly bases: readonly string[];
  private readonly urls: readonly string[];
  /** The URL of the current (or next) connection. */
  private current = 0;
  /** Where the current round started: coming back to it is a full round of failures, and backs off. */
  private roundStart = 0;
  /** The final refusal each URL gave on its latest attempt; all of them refusing is fatal. */
  private readonly refusals = new Map<number, string>();
  private ws: WebSocket | null = null;
  private queue: string[] = [];
  private attempt = 0;
  private stopped = false;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private heartbeat: NodeJS.Timeout | null = null;
  /** When the last ping from the switchboard (or our last pong from it) arrived. */
  private lastHeard = 0;
  private droppedConsole = false;
  private queuedBytes = 0;
  /** The extensions the switchboard named in its 101 answer (none: an upstream switchboard). */
  private peerExtensions: ReadonlySet<WsExtension> = new Set();

  constructor(private readonly opts: SwitchboardConnectionOptions) {
    super();
    this.bases = typeof opts.url === 'string' ? [opts.url] : [...opts.url];
    if (this.bases.length === 0) throw new Error('no switchboard URL');
    this.urls = this.bases.map((base) => connectUrl(base, opts.supervisorId));
  }

  private get url(): string {
    return this.urls[this.current]!;
  }

  get connected(): boolean {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  /** Bytes written but not yet handed to the network: queued while disconnected plus the socket's buffer. */
  get backlogBytes(): number {
    return this.queuedBytes + (this.ws?.bufferedAmount ?? 0);
  }

  start(): void {
    this.connect();
  }

  send(message: ToSwitchboard): void {
    const text = JSON.stringify(message);
    if (this.connected && this.queue.length === 0) {
      this.ws!.send(text);
      return;
    }
    this.enqueue(text, message);
  }

  /** Sends an extension message if the switchboard takes it and the link is up; says whether it did. */
  sendExtension(message: ExtToSwitchboard): boolean {
    if (!this.connected || !this.peerExtensions.has(message.type)) return false;
    this.ws!.send(JSON.stringify(message));
    return true;
  }

  async close(): Promise<void> {
    this.stopped = true;
    if (this.reconnectTimer !== null) clearTimeout(this.reconnectTimer);
    this.stopHeartbeat();
    const ws = this.ws;
    if (ws === null || ws.readyState === WebSocket.CLOSED) return;
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => ws.terminate(), 1000);
      ws.once('close', () => {
        clearTimeout(force);
        resolve();
      });
      if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
      else ws.close(1000, 'supervisor shutting down');
    });
  }

  private enqueue(text: string, message: ToSwitchboard): void {
    const max = this.opts.maxQueued ?? 10_000;
    if (this.queue.length >= max) {
      const isConsole = message.type === 'supervisor_event' && message.message.event.type === 'console_log';
      if (isConsole) {
        if (!this.droppedConsole) this.opts.log.warn('switchboard unreachable and queue full: dropping console output');
        this.droppedConsole = true;
        return;
      }
      const victim = this.queue.findIndex((t) => t.includes('"type":"console_log"'));
      const [dropped] = this.queue.splice(victim >= 0 ? victim : 0, 1);
      this.queuedBytes -= dropped?.length ?? 0;
    }
    this.queue.push(text);
    this.queuedBytes += text.length;
  }

  private connect(): void {
    if (this.stopped) return;
    this.opts.log.debug(`connecting to ${this.url}`);
    const extensions = this.opts.extensions ?? [];
    const ws = new WebSocket(this.url, WEBSOCKET_SUBPROTOCOL, {
      headers: {
        Authorization: `Bearer ${this.opts.token}`,
        ...(extensions.length > 0 ? { [EXTENSIONS_HEADER]: extensions.join(', ') } : {}),
      },
      handshakeTimeout: 10_000,
    });
    this.ws = ws;
    let refusal: string | null = null;
    let lastError: string | null = null;
    let keepaliveMs: number | null = null;
    // The backoff restarts only once the switchboard showed it keeps this connection: a peer that
    // accepts and then drops us (upstream's answer to a second instance) must not be hammered.
    let proven = false;
    const prove = () => {
      this.lastHeard = Date.now();
      if (proven) return;
      proven = true;
      this.attempt = 0;
      this.roundStart = this.current;
    };

    ws.on('upgrade', (res: IncomingMessage) => {
      this.peerExtensions = parseExtensionsHeader(res.headers[EXTENSIONS_HEADER]);
      const header = res.headers[SOCKET_CONFIG_HEADER];
      if (typeof header !== 'string') return;
      try {
        keepaliveMs = parseSocketConfig(header).keepaliveMs;
      } catch (err) {
        if (!(err instanceof ValidationError)) throw err;
        this.opts.log.warn(`ignored the switchboard's ${SOCKET_CONFIG_HEADER} header: ${err.message}`);
      }
    });
    ws.on('unexpected-response', (_req, res) => {
      const status = res.statusCode ?? 0;
      lastError = `HTTP ${status}`;
      const fatal = fatalRefusal(status, this.opts.supervisorId);
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        if (body.length < MAX_REFUSAL_BODY) body += chunk;
      });
      const done = () => {
        clearTimeout(timer);
        const detail = refusalDetail(body);
        if (detail !== null) lastError = `HTTP ${status}: ${detail}`;
        if (fatal !== null) refusal = `${fatal} (${lastError})`;
        ws.terminate();
      };
      const timer = setTimeout(done, 2000);
      res.once('end', done);
      res.once('error', done);
    });
    ws.on('error', (err) => {
      lastError ??= err.message;
    });
    ws.on('open', () => {
      this.droppedConsole = false;
      this.lastHeard = Date.now();
      this.refusals.delete(this.current);
      this.opts.log.info(
        `connected to the switchboard at ${this.url}${keepaliveMs === null ? '' : ` (reconnecting after ${keepaliveMs} ms without its ping)`}`,
      );
      const pending = this.queue;
      this.queue = [];
      this.queuedBytes = 0;
      for (const text of pending) ws.send(text);
      if (keepaliveMs === null) this.startHeartbeat(ws, prove);
      else this.watchPings(ws, keepaliveMs);
      this.emit('connected');
    });
    ws.on('ping', prove);
    ws.on('message', (data, isBinary) => {
      prove();
      if (isBinary) {
        this.opts.log.warn('ignored a binary message from the switchboard');
        return;
      }
      this.receive(data.toString());
    });
    ws.on('close', (code, reason) => {
      const wasOpen = this.heartbeat !== null;
      this.stopHeartbeat();
      if (this.ws === ws) this.ws = null;
      if (wasOpen) this.emit('disconnected');
      if (this.stopped) return;
      if (refusal !== null) {
        this.refusals.set(this.current, `${refusal} at ${this.url}`);
        if (this.refusals.size === this.urls.length) {
          this.stopped = true;
          this.emit('fatal', new Error([...this.refusals.values()].join('; ')));
          return;
        }
      } else if (!wasOpen) {
        this.refusals.delete(this.current);
      }
      const text = reason.toString();
      const why =
        refusal !== null
          ? refusal
          : code === CLOSE_CODES.superseded
            ? `replaced this connection by a newer one of supervisor id ${this.opts.supervisorId} (${text || 'superseded'})`
            : wasOpen
              ? `connection closed (code ${code}${text ? `: ${text}` : ''})`
              : `cannot connect (${lastError ?? `code ${code}`})`;
      this.moveOn(why);
    });
  }

  /**
   * Schedules the next attempt, at the next URL: at once within a round, so a dead replica costs
   * one failed attempt, and after the backoff when the round comes back to where it started.
   */
  private moveOn(why: string): void {
    const from = this.current;
    this.current = (from + 1) % this.urls.length;
    const delay = this.current === this.roundStart ? this.nextDelay() : 0;
    const seconds = `${(delay / 1000).toFixed(1)} s`;
    this.opts.log.warn(
      this.urls.length === 1
        ? `switchboard ${why}; retrying in ${seconds}`
        : `switchboard ${this.bases[from]}: ${why}; moving to ${this.bases[this.current]} ${delay === 0 ? 'now' : `in ${seconds}`}`,
    );
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.connect();
    }, delay);
  }

  private nextDelay(): number {
    const initial = this.opts.initialBackoffMs ?? 250;
    const max = this.opts.maxBackoffMs ?? 10_000;
    const base = Math.min(max, initial * 2 ** Math.min(this.attempt, 20));
    this.attempt++;
    // Jitter keeps a fleet of supervisors from reconnecting in lockstep after a switchboard restart.
    return Math.round(base * (0.5 + Math.random() * 0.5));
  }

  /** As upstream's supervisors do: the switchboard pings; no ping for `keepaliveMs` means it is gone. */
  private watchPings(ws: WebSocket, keepaliveMs: number): void {
    this.heartbeat = setInterval(
      () => {
        if (Date.now() - this.lastHeard <= keepaliveMs) return;
        this.opts.log.warn(`no ping from the switchboard for ${keepaliveMs} ms; reconnecting`);
        ws.terminate();
      },
      Math.max(10, Math.min(1000, keepaliveMs / 4)),
    );
  }

  /** For a switchboard without `tml-socket-config`: ping it, and expect each pong by the next ping. */
  private startHeartbeat(ws: WebSocket, heard: () => void): void {
    let alive = true;
    ws.on('pong', () => {
      alive = true;
      heard();
    });
    ws.on('ping', () => (alive = true));
    this.heartbeat = setInterval(() => {
      if (!alive) {
        this.opts.log.warn('the switchboard stopped answering pings; reconnecting');
        ws.terminate();
        return;
      }
      alive = false;
      ws.ping();
    }, this.opts.heartbeatMs ?? 30_000);
  }

  private stopHeartbeat(): void {
    if (this.heartbeat !== null) clearInterval(this.heartbeat);
    this.heartbeat = null;
  }

  private receive(text: string): void {
    const ext = attempt(() => parseExtToSupervisor(text));
    if (!ext.ok) {
      this.opts.log.warn(`ignored an extension message from the switchboard: ${ext.error.message}`);
      return;
    }
    if (ext.value !== null) {
      const m = ext.value.message;
      this.opts.handlers.consoleInput?.(m.job_id, Buffer.from(m.console_bytes));
      return;
    }
    const parsed = parseToSupervisorForJob(text);
    const h = this.opts.handlers;
    if (!parsed.ok) {
      this.opts.log.warn(`ignored a message from the switchboard: ${parsed.error}`);
      if (parsed.jobId !== undefined)
        h.rejectStart(parsed.jobId, `the supervisor could not use start_job: ${parsed.error}`);
      return;
    }
    const msg = parsed.message;
    switch (msg.type) {
      case 'status_request':
        this.send({
          type: 'status_response',
          message: { response_to_request_id: msg.message.request_id, message: h.status() },
        });
        return;
      case 'start_job':
        h.startJob(msg.message);
        return;
      case 'stop_job':
        h.stopJob(msg.message.job_id);
        return;
    }
  }
}
