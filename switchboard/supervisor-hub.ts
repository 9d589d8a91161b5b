// The supervisor WebSocket endpoint: `GET /api/v1/supervisors/:id/connect` upgraded with the
// supervisor's bearer token and subprotocol treadmillv1. Authenticates, admits one connection per
// supervisor id, answers with upstream's `tml-socket-config` header, pings every ping_interval and
// drops a peer whose pongs stop for `keepalive`, parses each message once and hands it to the
// scheduler.

import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { API_PREFIX, CONNECT_REFUSAL_STATUS, type ConnectRefusal } from '../protocol/switchboard-api.js';
import { ValidationError, isUuid } from '../protocol/validation.js';
import {
  CLOSE_CODES,
  EXTENSIONS_HEADER,
  SOCKET_CONFIG_HEADER,
  WEBSOCKET_SUBPROTOCOL,
  encodeSocketConfig,
  parseExtensionsHeader,
  parseToSwitchboard,
  type Keepalive,
  type SupervisorEventMessage,
  type ToSupervisor,
  type ToSwitchboard,
} from '../protocol/switchboard-ws.js';
import { bearerToken, tokenMatches } from './auth.js';
import { StoreUnavailable, type SupervisorRow, type SwitchboardStore } from './store.js';
import type { ExtensionLink, InteractiveJobs } from './interactive.js';
import type { Logger } from '../protocol/log.js';
import type { Scheduler, SupervisorLink } from './scheduler.js';

const CONNECT_PATH = new RegExp(`^${API_PREFIX}/supervisors/([^/?]*)/connect(?:\\?.*)?$`);

// Console messages carry up to 64 KiB as a JSON array of numbers (up to 4 characters a byte).
const MAX_MESSAGE_BYTES = 1024 * 1024;

// A live peer answers a ping within a round trip; this is how long a newcomer waits to learn that.
const PROBE_MAX_MS = 2000;

interface Pending {
  row: SupervisorRow;
  link: SupervisorLink;
  msg: ToSwitchboard;
  bytes: number;
}

// Messages kept while the database cannot take them. Upstream's protocol (and so ours) has no
// acknowledgements, so a supervisor cannot resend what it sent: the hub keeps it and retries, in
// order. Past this, a supervisor's connection is closed; on reconnect its status is reconciled.
const MAX_PENDING_BYTES = 64 * 1024 * 1024;
/** Job events stored in one transaction at most: those that arrived together, up to this many. */
const EVENTS_PER_TRANSACTION = 64;
const FIRST_RETRY_MS = 100;
const MAX_RETRY_MS = 5000;

interface Connection {
  ws: WebSocket;
  row: SupervisorRow;
  address: string;
  lastPong: number;
}

export interface HubOptions {
  keepalive: Keepalive;
  /** Our WebSocket extensions (named in the tml-extensions header); none without it. */
  interactive?: InteractiveJobs;
}

class Refusal extends Error {
  constructor(
    readonly code: ConnectRefusal,
    message: string,
  ) {
    super(message);
  }
}

/** The supervisor id of a connect path, or null when the path is not the connect endpoint. */
export function connectPathId(url: string): string | null {
  const m = CONNECT_PATH.exec(url);
  if (!m) return null;
  let id: string;
  try {
    id = decodeURIComponent(m[1]!);
  } catch {
    throw new Refusal('bad_request', 'the supervisor id in the path holds a malformed %-escape');
  }
  id = id.toLowerCase();
  if (!isUuid(id)) throw new Refusal('bad_request', 'the supervisor id in the path is not a UUID');
  return id;
}

export class SupervisorHub {
  private readonly wss = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_MESSAGE_BYTES,
    clientTracking: false,
    handleProtocols: (offered) => (offered.has(WEBSOCKET_SUBPROTOCOL) ? WEBSOCKET_SUBPROTOCOL : false),
  });
  /** supervisor id -> its one admitted connection */
  private readonly connections = new Map<string, Connection>();
  /** Ids whose newcomer waits for the old connection's answer to a ping. */
  private readonly admitting = new Set<string>();
  private pending: Pending[] = [];
  private pendingBytes = 0;
  private retry: NodeJS.Timeout | null = null;
  private retryMs = 0;
  /** A flush is under way (it takes what is queued meanwhile too). */
  private flushing = false;
  private readonly pinger: NodeJS.Timeout;
  private readonly socketConfig: string;
  private closed = false;
  private readonly onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    this.upgrade(req, socket, head).catch((err: unknown) => {
      // One bad request must never end the process.
      this.log.error(`supervisor connection from ${req.socket.remoteAddress}: ${(err as Error).message}`);
      reject(socket, 'internal', 'internal error while admitting the supervisor');
    });
  };

  constructor(
    private readonly server: Server,
    private readonly db: SwitchboardStore,
    private readonly scheduler: Scheduler,
    private readonly log: Logger,
    private readonly opts: HubOptions,
  ) {
    this.socketConfig = encodeSocketConfig(opts.keepalive);
    this.wss.on('headers', (headers) => {
      headers.push(`${SOCKET_CONFIG_HEADER}: ${this.socketConfig}`);
      if (opts.interactive) headers.push(`${EXTENSIONS_HEADER}: ${opts.interactive.offered.join(', ')}`);
    });
    server.on('upgrade', this.onUpgrade);
    this.pinger = setInterval(() => this.keepalive(), opts.keepalive.pingIntervalMs);
    this.pinger.unref();
  }

  private keepalive(): void {
    const now = Date.now();
    for (const conn of this.connections.values()) {
      if (now - conn.lastPong > this.opts.keepalive.keepaliveMs) {
        this.log.warn(
          `supervisor ${conn.row.name}: no pong for ${this.opts.keepalive.keepaliveMs} ms; dropping the connection`,
        );
        conn.ws.terminate();
        continue;
      }
      conn.ws.ping();
    }
  }

  /**
   * Messages are handled in arrival order after the current tick; job events that wait together
   * share a transaction.
   */
  private enqueue(item: Pending): void {
    if (this.pendingBytes + item.bytes > MAX_PENDING_BYTES) {
      this.log.error(
        `supervisor ${item.row.name}: ${this.pendingBytes} bytes of messages wait for the database; closing its connection`,
      );
      this.pending = this.pending.filter((p) => p.link !== item.link);
      this.pendingBytes = this.pending.reduce((n, p) => n + p.bytes, 0);
      item.link.close(1013, 'the switchboard cannot store events now; reconnect later');
      return;
    }
    this.pending.push(item);
    this.pendingBytes += item.bytes;
    if (this.retry === null) setImmediate(() => void this.flush());
  }

  /**
   * Handles what is pending, in turns (see nextTurn). A message the database cannot take
   * (disk full) is not acknowledged in any way the supervisor could see and is not dropped: it and
   * everything after it wait, and the hub tries again with a growing pause. The process never
   * exits for it.
   */
  private async flush(): Promise<void> {
    // One flush at a time, and none while a retry waits: its timer flushes.
    if (this.flushing || this.retry !== null) return;
    this.flushing = true;
    try {
      while (this.pending.length > 0 && !this.closed) {
        const items = this.nextTurn();
        const first = items[0]!;
        try {
          if (first.msg.type === 'supervisor_event') {
            await this.scheduler.supervisorEvents(
              items.map(({ row, link, msg }) => ({ supervisorId: row.id, link, msg: msg as SupervisorEventMessage })),
            );
          } else {
            await this.scheduler.supervisorMessage(first.row.id, first.link, first.msg);
          }
        } catch (err) {
          const what = items.length === 1 ? first.msg.type : `${items.length} job events`;
          if (err instanceof StoreUnavailable) {
            this.retryMs = Math.min(MAX_RETRY_MS, this.retryMs === 0 ? FIRST_RETRY_MS : this.retryMs * 2);
            this.log.error(
              `supervisor ${first.row.name}: ${what} not stored: ${err.message}; ${this.pending.length} messages wait, next try in ${this.retryMs} ms`,
            );
            this.retry = setTimeout(() => {
              this.retry = null;
              void this.flush();
            }, this.retryMs);
            return;
          }
          this.log.error(`supervisor ${first.row.name}: failed to handle ${what}: ${(err as Error).message}`);
        }
        // A connection closed for too much waiting took its messages out meanwhile.
        if (this.pending[0] === first && this.pending[items.length - 1] === items.at(-1)) {
          this.pending.splice(0, items.length);
          this.pendingBytes -= items.reduce((n, p) => n + p.bytes, 0);
        } else {
          const done = new Set(items);
          this.pending = this.pending.filter((p) => !done.has(p));
          this.pendingBytes = this.pending.reduce((n, p) => n + p.bytes, 0);
        }
      }
      if (this.retryMs !== 0) {
        this.log.info('the database takes writes again; every waiting supervisor message was handled');
        this.retryMs = 0;
      }
    } finally {
      this.flushing = false;
    }
  }

  /** What the next turn handles: the first message, with the job events that wait after it if it is one. */
  private nextTurn(): Pending[] {
    let n = 1;
    if (this.pending[0]!.msg.type === 'supervisor_event') {
      while (n < this.pending.length && n < EVENTS_PER_TRANSACTION && this.pending[n]!.msg.type === 'supervisor_event')
        n++;
    }
    return this.pending.slice(0, n);
  }

  close(): void {
    this.closed = true;
    clearInterval(this.pinger);
    this.pending = [];
    if (this.retry) clearTimeout(this.retry);
    this.server.off('upgrade', this.onUpgrade);
    for (const conn of this.connections.values()) conn.ws.close(1001, 'switchboard shutting down');
    this.wss.close();
  }

  private async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    // A client that resets while it waits below must not raise an unhandled 'error'.
    const ignore = () => {};
    socket.on('error', ignore);
    const address = `${req.socket.remoteAddress}:${req.socket.remotePort}`;
    let row: SupervisorRow;
    try {
      row = await this.admit(req, address);
    } catch (err) {
      if (!(err instanceof Refusal)) throw err;
      this.log.warn(`refused a supervisor connection from ${address}: ${err.message}`);
      return reject(socket, err.code, err.message);
    } finally {
      socket.off('error', ignore);
    }
    if (socket.destroyed || this.closed) return;
    const extensions = parseExtensionsHeader(req.headers[EXTENSIONS_HEADER]);
    this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, row, address, extensions));
  }

  /** The supervisor a request may connect as; throws Refusal with the HTTP status to answer. */
  private async admit(req: IncomingMessage, address: string): Promise<SupervisorRow> {
    const id = connectPathId(req.url ?? '');
    if (id === null) throw new Refusal('not_found', 'no WebSocket endpoint here');
    const header = req.headers.authorization;
    if (header === undefined)
      throw new Refusal('unauthenticated', 'missing Authorization: Bearer <supervisor token> header');
    const token = bearerToken(header);
    if (token === null)
      throw new Refusal('unauthenticated', 'the Authorization header is not "Bearer <supervisor token>"');
    const row = await this.db.supervisorById(id);
    if (!row) {
      throw new Refusal(
        'unknown_supervisor',
        `no supervisor with id ${id} is registered; register it with tml-switchboard supervisor add NAME --id ${id} --token-file FILE`,
      );
    }
    if (!tokenMatches(token, row.token_hash))
      throw new Refusal('wrong_token', `wrong token for supervisor ${row.name} (${id})`);
    const protocols = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
    if (!protocols.includes(WEBSOCKET_SUBPROTOCOL))
      throw new Refusal('bad_request', `subprotocol ${WEBSOCKET_SUBPROTOCOL} required`);
    await this.onlyConnection(row, address);
    return row;
  }

  /**
   * One supervisor id, one connection: a newcomer is refused while the admitted connection answers
   * pings, and replaces it (closed with 4003, superseded) when it does not.
   */
  private async onlyConnection(row: SupervisorRow, address: string): Promise<void> {
    const held = (other: string) =>
      new Refusal(
        'already_connected',
        `supervisor ${row.name} (${row.id}) is already connected from ${other}: another tml-supervisor instance holds this id`,
      );
    if (this.admitting.has(row.id)) throw held('a connection being admitted');
    const old = this.connections.get(row.id);
    if (old === undefined) return;
    this.admitting.add(row.id);
    let alive: boolean;
    try {
      alive = await this.answersPing(old);
    } finally {
      this.admitting.delete(row.id);
    }
    if (alive) throw held(old.address);
    this.log.warn(
      `supervisor ${row.name}: the connection from ${old.address} answers no ping; the one from ${address} replaces it`,
    );
    this.forget(old);
    old.ws.close(CLOSE_CODES.superseded, 'superseded by a newer connection of the same supervisor');
    old.ws.terminate();
  }

  private answersPing(conn: Connection): Promise<boolean> {
    const { ws } = conn;
    if (ws.readyState !== ws.OPEN) return Promise.resolve(false);
    if (Date.now() - conn.lastPong > this.opts.keepalive.keepaliveMs) return Promise.resolve(false);
    return new Promise((resolve) => {
      const done = (alive: boolean) => {
        clearTimeout(timer);
        ws.off('pong', onPong);
        ws.off('close', onClose);
        resolve(alive);
      };
      const onPong = () => done(true);
      const onClose = () => done(false);
      const timer = setTimeout(() => done(false), Math.min(PROBE_MAX_MS, this.opts.keepalive.keepaliveMs));
      ws.on('pong', onPong);
      ws.on('close', onClose);
      ws.ping();
    });
  }

  private forget(conn: Connection): void {
    if (this.connections.get(conn.row.id) === conn) this.connections.delete(conn.row.id);
  }

  private accept(ws: WebSocket, row: SupervisorRow, address: string, extensions: ExtensionLink['extensions']): void {
    const conn: Connection = { ws, row, address, lastPong: Date.now() };
    this.connections.set(row.id, conn);
    ws.on('pong', () => (conn.lastPong = Date.now()));
    const link: SupervisorLink = {
      send: (msg: ToSupervisor) => {
        if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(msg));
      },
      close: (code, reason) => ws.close(code, reason),
    };
    const ext: ExtensionLink = {
      extensions,
      send: (msg) => {
        if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(msg));
      },
    };
    this.opts.interactive?.connected(row.id, ext);
    ws.on('message', (data, isBinary) => {
      conn.lastPong = Date.now();
      if (isBinary) {
        this.log.warn(`supervisor ${row.name}: ignored a binary message`);
        return;
      }
      const text = data.toString();
      if (this.opts.interactive && this.opts.interactive.message(row.id, row.name, text) !== false) return;
      let msg;
      try {
        msg = parseToSwitchboard(text);
      } catch (err) {
        const why = err instanceof ValidationError ? err.message : String(err);
        this.log.warn(`supervisor ${row.name}: refused malformed message: ${why}`);
        return;
      }
      this.enqueue({ row, link, msg, bytes: (data as Buffer).length });
    });
    ws.on('close', (code, reason) => {
      this.forget(conn);
      this.opts.interactive?.disconnected(row.id, ext);
      this.log.debug(`supervisor ${row.name}: connection from ${address} closed (${code} ${reason.toString()})`);
      this.scheduler.supervisorDisconnected(row.id, link);
    });
    ws.on('error', (err) => this.log.warn(`supervisor ${row.name}: connection error: ${err.message}`));
    this.scheduler.supervisorConnected(row, link);
  }
}

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  500: 'Internal Server Error',
};

function reject(socket: Duplex, code: ConnectRefusal, message: string): void {
  if (socket.destroyed) return;
  const status = CONNECT_REFUSAL_STATUS[code];
  const body = JSON.stringify({ error: { code, message } });
  socket.end(
    `HTTP/1.1 ${status} ${REASONS[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}
