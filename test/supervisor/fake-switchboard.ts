// A stand-in switchboard for the supervisor's connection tests, on loopback, and handlers that
// record what the connection hands the supervisor.

import { once } from 'node:events';
import http from 'node:http';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import type { StartJobMessage, SupervisorStatus } from '../../protocol/switchboard-ws.js';
import type { SwitchboardHandlers } from '../../supervisor/switchboard-connection.js';

export const SUPERVISOR_ID = '11111111-2222-4333-8444-555555555555';

/**
 * A stand-in switchboard: accepts one supervisor id and token, records connections and messages.
 * `socketConfig`: the tml-socket-config header of its 101 answer; `pingMs`: how often it pings;
 * `dropAfterOpen`: accepts and at once drops every connection (upstream's answer to a second one).
 */
export async function fakeSwitchboard(
  opts: {
    status?: number;
    body?: string;
    socketConfig?: string;
    pingMs?: number;
    dropAfterOpen?: boolean;
    /** listen on this port (a switchboard coming back where it was) */
    port?: number;
  } = {},
) {
  // Every TCP connection counts as an attempt, refused ones included.
  let attempts = 0;
  const server = http.createServer();
  server.on('connection', () => attempts++);
  server.listen(opts.port ?? 0, '127.0.0.1');
  await once(server, 'listening');
  const wss = new WebSocketServer({
    server,
    handleProtocols: (protocols) => (protocols.has('treadmillv1') ? 'treadmillv1' : false),
    verifyClient: (
      info: { req: IncomingMessage },
      done: (ok: boolean, code?: number, message?: string, headers?: Record<string, string>) => void,
    ) => {
      if (opts.status !== undefined) {
        return done(false, opts.status, opts.body, opts.body ? { 'content-type': 'application/json' } : undefined);
      }
      const ok =
        info.req.url === `/api/v1/supervisors/${SUPERVISOR_ID}/connect` &&
        info.req.headers.authorization === 'Bearer sekrit';
      done(ok, ok ? undefined : 401);
    },
  });
  if (opts.socketConfig !== undefined) wss.on('headers', (h) => h.push(`tml-socket-config: ${opts.socketConfig}`));
  const received: unknown[] = [];
  const sockets: WebSocket[] = [];
  let connections = 0;
  wss.on('connection', (ws) => {
    connections++;
    sockets.push(ws);
    if (opts.dropAfterOpen) return ws.terminate();
    if (opts.pingMs !== undefined) {
      const t = setInterval(() => ws.ping(), opts.pingMs);
      ws.once('close', () => clearInterval(t));
    }
    ws.on('message', (data) => received.push(JSON.parse(data.toString())));
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    port: (server.address() as AddressInfo).port,
    received,
    /** WebSocket connections accepted. */
    get connections() {
      return connections;
    },
    /** TCP connections made to it, whatever became of them. */
    get attempts() {
      return attempts;
    },
    latest: () => sockets.at(-1)!,
    nextConnection: () => once(wss, 'connection').then(([ws]) => ws as WebSocket),
    close: async () => {
      for (const ws of wss.clients) ws.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export function handlers(status: SupervisorStatus = { type: 'idle' }) {
  const calls: string[] = [];
  const started: StartJobMessage[] = [];
  const h: SwitchboardHandlers = {
    status: () => status,
    startJob: (msg) => {
      started.push(msg);
      calls.push(`start ${msg.job_id}`);
    },
    stopJob: (jobId) => calls.push(`stop ${jobId}`),
    rejectStart: (jobId, message) => calls.push(`reject ${jobId}: ${message}`),
  };
  return { h, calls, started };
}

export async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setTimeout(r, 5));
}
