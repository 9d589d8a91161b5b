// The puppet's connection, in-process, against a scripted supervisor: how it matches refusals
// that name no request, times requests out, and keeps extension events from a supervisor that
// did not list them.
import test from 'ava';
import { once } from 'node:events';
import net from 'node:net';
import { FrameDecoder, encodeFrame } from '../../protocol/control-socket/framing.js';
import {
  ExtensionUnsupportedError,
  SupervisorConnection,
  parseSocketAddress,
  type Reply,
} from '../../puppet/connection.js';
import { createLogger } from '../../protocol/log.js';

interface Script {
  /** answers one decoded frame; return the frames to send back */
  (msg: { request_id?: number; request?: { type: string }; event?: { type: string } }): unknown[];
}

async function scripted(t: import('ava').ExecutionContext, script: Script) {
  const received: unknown[] = [];
  const sockets: net.Socket[] = [];
  const server = net.createServer((socket) => {
    sockets.push(socket);
    socket.on('error', () => {});
    const decoder = new FrameDecoder();
    socket.on('data', (chunk: Buffer) => {
      for (const f of decoder.push(chunk).frames) {
        const msg = JSON.parse(f.toString('utf8')) as Parameters<Script>[0];
        received.push(msg);
        for (const out of script(msg)) socket.write(encodeFrame(out));
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const logged: string[] = [];
  const conn = new SupervisorConnection({
    address: { host: '127.0.0.1', port: (server.address() as net.AddressInfo).port },
    log: createLogger({ level: 'debug', write: (line) => logged.push(line) }),
    requestTimeoutMs: 300,
  });
  t.teardown(() => {
    conn.close();
    for (const s of sockets) s.destroy();
    server.close();
  });
  const connected = once(conn, 'connected');
  conn.start();
  await connected;
  return { conn, received, logged, sockets };
}

/** Waits until `n` frames have arrived: events go out in order, so nothing sent before is missing. */
async function framesArrived(received: unknown[], n: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (received.length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
}

const refusal = { message: 'Error("data did not match any variant of untagged enum PuppetMsg", line: 0, column: 0)' };

test('a refusal without a request id refuses the oldest outstanding request, at once', async (t) => {
  // answers requests in order, refusing every jobinfo the way upstream refuses what it cannot parse
  const { conn } = await scripted(t, (m) => {
    if (m.request?.type === 'extensions' || m.request?.type === 'jobinfo') return [refusal];
    if (m.request?.type === 'ping') return [{ request_id: m.request_id, response: { type: 'pingresp' } }];
    return [];
  });
  const t0 = performance.now();
  const [info, ping, again] = await Promise.all([
    conn.request('jobinfo'),
    conn.request('ping'),
    conn.request('jobinfo'),
  ]);
  t.like(info, { type: 'refused' });
  t.deepEqual(ping, { type: 'pingresp' });
  t.like(again, { type: 'refused' });
  t.true(performance.now() - t0 < 250, 'refused before the time-out');
  t.regex((info as Extract<Reply, { type: 'refused' }>).reason, /untagged enum PuppetMsg/);
});

test('a request the supervisor never answers counts as refused after the time-out', async (t) => {
  const { conn, logged } = await scripted(t, (m) =>
    m.request?.type === 'extensions'
      ? [{ request_id: m.request_id, response: { type: 'extensions', extensions: [] } }]
      : [],
  );
  const t0 = performance.now();
  const reply = await conn.request('parameters');
  const ms = performance.now() - t0;
  t.deepEqual(reply, { type: 'refused', reason: 'no answer within 0.3 s' });
  t.true(ms >= 280 && ms < 2000, `${ms} ms`);
  t.true(logged.some((l) => /did not answer request 1 \(parameters\) within 0.3 s/.test(l)));
});

test('the capability request goes first, and a supervisor that refuses it gets no extension event', async (t) => {
  const { conn, received } = await scripted(t, (m) => (m.request?.type === 'extensions' ? [refusal] : []));
  t.deepEqual(received[0], { request_id: 0, request: { type: 'extensions' } });
  t.deepEqual([...conn.extensions!], []);
  t.throws(() => conn.sendEvent({ type: 'reportsubstate', substate: 'x' }), { instanceOf: ExtensionUnsupportedError });
  await conn.sendEvent({ type: 'terminatejob', supervisor_event_id: null });
  await framesArrived(received, 2);
  t.deepEqual(
    received.slice(1),
    [{ puppet_event_id: 0, event: { type: 'terminatejob', supervisor_event_id: null } }],
    'only the upstream event went out',
  );
});

test('a supervisor that lists the extension events is sent them', async (t) => {
  const { conn, received } = await scripted(t, (m) =>
    m.request?.type === 'extensions'
      ? [
          {
            request_id: m.request_id,
            response: { type: 'extensions', extensions: ['reportsubstate', 'declareworkloadexitstatus'] },
          },
        ]
      : [],
  );
  await conn.sendEvent({ type: 'reportsubstate', substate: 'flashing' });
  await framesArrived(received, 2);
  t.deepEqual(received.slice(1), [{ puppet_event_id: 0, event: { type: 'reportsubstate', substate: 'flashing' } }]);
});

test('control socket addresses: IPv4, host names and bracketed IPv6; garbage is an error', (t) => {
  t.deepEqual(parseSocketAddress('10.0.2.2:4000'), { host: '10.0.2.2', port: 4000 });
  t.deepEqual(parseSocketAddress('[fd00::1]:22\n'), { host: 'fd00::1', port: 22 });
  t.deepEqual(parseSocketAddress('supervisor:1'), { host: 'supervisor', port: 1 });
  for (const bad of ['', '10.0.0.1', '10.0.0.1:0', '10.0.0.1:70000', ':5']) t.throws(() => parseSocketAddress(bad));
});
