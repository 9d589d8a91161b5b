// The supervisor WebSocket endpoint: `GET /api/v1/supervisors/:id/connect` upgraded with the
// supervisor's bearer token and subprotocol treadmillv1. Authenticates, keeps connections alive
// with pings, parses each message once and hands it to the scheduler.

import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { API_PREFIX } from '../protocol/switchboard-api.js';
import { ValidationError } from '../protocol/validation.js';
import {
  WEBSOCKET_SUBPROTOCOL,
  parseToSwitchboard,
  type ToSupervisor,
  type ToSwitchboard,
} from '../protocol/switchboard-ws.js';
import { bearerToken, tokenMatches } from './auth.js';
import type { SupervisorRow, SwitchboardDb } from './db.js';
import type { Logger } from './logger.js';
import type { Scheduler, SupervisorLink } from './scheduler.js';

const CONNECT_PATH = new RegExp(`^${API_PREFIX}/supervisors/([^/?]+)/connect(?:\\?.*)?$`);

// Console messages carry up to 64 KiB as a JSON array of numbers (up to 4 characters a byte).
const MAX_MESSAGE_BYTES = 1024 * 1024;

interface Pending {
  row: SupervisorRow;
  link: SupervisorLink;
  msg: ToSwitchboard;
}

export interface HubOptions {
  pingIntervalMs: number;
}

export class SupervisorHub {
  private readonly wss = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_MESSAGE_BYTES,
    clientTracking: true,
    handleProtocols: (offered) => (offered.has(WEBSOCKET_SUBPROTOCOL) ? WEBSOCKET_SUBPROTOCOL : false),
  });
  private readonly alive = new WeakMap<WebSocket, boolean>();
  private pending: Pending[] = [];
  private readonly pinger: NodeJS.Timeout;
  private readonly onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => this.upgrade(req, socket, head);

  constructor(
    private readonly server: Server,
    private readonly db: SwitchboardDb,
    private readonly scheduler: Scheduler,
    private readonly log: Logger,
    opts: HubOptions,
  ) {
    server.on('upgrade', this.onUpgrade);
    // A connection that did not answer the previous ping is dead: close it so its grace period starts.
    this.pinger = setInterval(() => {
      for (const ws of this.wss.clients) {
        if (this.alive.get(ws) === false) {
          ws.terminate();
          continue;
        }
        this.alive.set(ws, false);
        ws.ping();
      }
    }, opts.pingIntervalMs);
    this.pinger.unref();
  }

  /**
   * Messages that arrive together (one socket read often holds a host's whole burst of events) are
   * handled in one database transaction: one commit instead of one per message.
   */
  private enqueue(item: Pending): void {
    this.pending.push(item);
    if (this.pending.length === 1) setImmediate(() => this.flush());
  }

  private flush(): void {
    const batch = this.pending;
    this.pending = [];
    // Emptied by close(): the database may be gone.
    if (batch.length === 0) return;
    // A failing commit (disk full) throws out of here and ends the process: in-memory state may
    // then be ahead of the database, and a restart rebuilds it from what was committed.
    this.db.transaction(() => {
      for (const { row, link, msg } of batch) {
        try {
          this.scheduler.supervisorMessage(row.id, link, msg);
        } catch (err) {
          this.log.error(`supervisor ${row.name}: failed to handle ${msg.type}: ${(err as Error).message}`);
        }
      }
    });
  }

  close(): void {
    clearInterval(this.pinger);
    this.pending = [];
    this.server.off('upgrade', this.onUpgrade);
    for (const ws of this.wss.clients) ws.close(1001, 'switchboard shutting down');
    this.wss.close();
  }

  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const m = CONNECT_PATH.exec(req.url ?? '');
    if (!m) return reject(socket, 404, 'no WebSocket endpoint here');
    const id = decodeURIComponent(m[1]!);
    const token = bearerToken(req.headers.authorization);
    const row = this.db.supervisorById(id);
    if (!token || !row || !tokenMatches(token, row.token_hash)) {
      this.log.warn(
        `refused supervisor connection for ${id.slice(0, 64)} from ${req.socket.remoteAddress}: bad id or token`,
      );
      return reject(socket, 401, 'unknown supervisor or wrong token');
    }
    const protocols = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
    if (!protocols.includes(WEBSOCKET_SUBPROTOCOL)) {
      return reject(socket, 400, `subprotocol ${WEBSOCKET_SUBPROTOCOL} required`);
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, row));
  }

  private accept(ws: WebSocket, row: SupervisorRow): void {
    this.alive.set(ws, true);
    ws.on('pong', () => this.alive.set(ws, true));
    const link: SupervisorLink = {
      send: (msg: ToSupervisor) => {
        if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(msg));
      },
      close: (code, reason) => ws.close(code, reason),
    };
    ws.on('message', (data, isBinary) => {
      this.alive.set(ws, true);
      if (isBinary) {
        this.log.warn(`supervisor ${row.name}: ignored a binary message`);
        return;
      }
      let msg;
      try {
        msg = parseToSwitchboard(data.toString());
      } catch (err) {
        const why = err instanceof ValidationError ? err.message : String(err);
        this.log.warn(`supervisor ${row.name}: refused malformed message: ${why}`);
        return;
      }
      this.enqueue({ row, link, msg });
    });
    ws.on('close', () => this.scheduler.supervisorDisconnected(row.id, link));
    ws.on('error', (err) => this.log.warn(`supervisor ${row.name}: connection error: ${err.message}`));
    this.scheduler.supervisorConnected(row, link);
  }
}

function reject(socket: Duplex, status: number, message: string): void {
  const reason = { 400: 'Bad Request', 401: 'Unauthorized', 404: 'Not Found' }[status] ?? 'Error';
  const body = JSON.stringify({ error: { code: reason.toLowerCase().replace(/ /g, '_'), message } });
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}
