// The supervisor's side of the tml-extensions negotiation, against stand-in switchboards: it names
// its extensions in the upgrade request, sends an extension message only to a switchboard that named
// it in its answer (upstream's close the socket on a message they cannot parse), and hands
// console_input to its handler.

import test from 'ava';
import { silentLogger } from '../../protocol/log.js';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import type { ExtToSwitchboard } from '../../protocol/switchboard-ws.js';
import { SwitchboardConnection } from '../../supervisor/switchboard-connection.js';

const SUPERVISOR = '11111111-2222-4333-8444-555555555555';
const JOB = '6f1c2a4e-0d0b-4c57-9a53-2f1d4c5e6a7b';

async function standIn(answerHeader: string | null) {
  const wss = new WebSocketServer({
    host: '127.0.0.1',
    port: 0,
    handleProtocols: (p) => (p.has('treadmillv1') ? 'treadmillv1' : false),
  });
  await once(wss, 'listening');
  if (answerHeader !== null) wss.on('headers', (h) => h.push(`tml-extensions: ${answerHeader}`));
  const received: string[] = [];
  const requestHeaders: Array<string | undefined> = [];
  const sockets: WebSocket[] = [];
  wss.on('connection', (ws, req) => {
    sockets.push(ws);
    requestHeaders.push(req.headers['tml-extensions'] as string | undefined);
    ws.on('message', (d) => received.push(d.toString()));
  });
  return {
    url: `http://127.0.0.1:${(wss.address() as AddressInfo).port}`,
    received,
    requestHeaders,
    sockets,
    close: () => new Promise<void>((r) => wss.close(() => r())),
  };
}

const endpoints: ExtToSwitchboard = {
  type: 'ssh_endpoints',
  message: { job_id: JOB, ssh_endpoints: [{ host: '127.0.0.1', port: 40022 }], ssh_user: 'tml', ssh_host_keys: null },
};

async function connect(url: string, consoleInput: (jobId: string, data: Buffer) => void = () => {}) {
  const conn = new SwitchboardConnection({
    url,
    supervisorId: SUPERVISOR,
    token: 'sekrit',
    log: silentLogger,
    extensions: ['ssh_endpoints', 'console_input'],
    handlers: {
      status: () => ({ type: 'idle' }),
      startJob: () => {},
      stopJob: () => {},
      rejectStart: () => {},
      consoleInput,
    },
  });
  const connected = once(conn, 'connected');
  conn.start();
  await connected;
  return conn;
}

test('against a switchboard that names no extension (upstream), nothing new is sent', async (t) => {
  const sb = await standIn(null);
  const conn = await connect(sb.url);
  t.deepEqual(sb.requestHeaders, ['ssh_endpoints, console_input']);
  t.false(conn.sendExtension(endpoints));
  await conn.close();
  t.deepEqual(sb.received, []);
  await sb.close();
});

test('a switchboard that names ssh_endpoints gets them; console_input reaches the handler', async (t) => {
  const sb = await standIn('ssh_endpoints, console_input');
  const inputs: Array<[string, string]> = [];
  const conn = await connect(sb.url, (jobId, data) => inputs.push([jobId, data.toString()]));
  t.true(conn.sendExtension(endpoints));
  sb.sockets[0]!.send(JSON.stringify({ type: 'console_input', message: { job_id: JOB, console_bytes: [104, 105] } }));
  const deadline = Date.now() + 5000;
  while ((inputs.length === 0 || sb.received.length === 0) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 10));
  }
  t.deepEqual(JSON.parse(sb.received[0]!), endpoints);
  t.deepEqual(inputs, [[JOB, 'hi']]);
  await conn.close();
  await sb.close();
});
