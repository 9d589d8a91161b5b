// A misbehaving supervisor must not crash the daemon: garbage is logged and skipped, an
// oversize frame drops the connection, and the daemon reconnects.
import test from 'ava';
import { attempt } from '../../protocol/validation.js';
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { FrameDecoder, decodeFrameBody, encodeFrame } from '../../protocol/control-socket/framing.js';
import { parsePuppetMessage, type PuppetMessage } from '../../protocol/control-socket/messages.js';
import { CLI_JS, tempDir, waitFor } from './harness.js';

/** A raw supervisor: answers jobinfo/parameters, records what the puppet sends. */
async function rawSupervisor(t: import('ava').ExecutionContext) {
  const received: PuppetMessage[] = [];
  const sockets: net.Socket[] = [];
  let connections = 0;
  const server = net.createServer((socket) => {
    connections++;
    sockets.push(socket);
    const decoder = new FrameDecoder();
    socket.on('error', () => {});
    socket.on('data', (chunk) => {
      for (const f of decoder.push(chunk).frames) {
        const body = attempt(() => decodeFrameBody(f));
        if (!body.ok) continue;
        const parsed = attempt(() => parsePuppetMessage(body.value));
        if (!parsed.ok) continue;
        received.push(parsed.value);
        const m = parsed.value;
        if ('request' in m) {
          const response =
            m.request.type === 'jobinfo'
              ? { type: 'jobinfo', job_id: 'j', host_id: 'h' }
              : m.request.type === 'parameters'
                ? { type: 'parameters', parameters: {} }
                : { type: 'unsupportedrequest' };
          socket.write(encodeFrame({ request_id: m.request_id, response }));
        }
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  return {
    port: (server.address() as net.AddressInfo).port,
    received,
    current: () => sockets[sockets.length - 1]!,
    connections: () => connections,
  };
}

function frame(body: Buffer | string): Buffer {
  const b = typeof body === 'string' ? Buffer.from(body) : body;
  const h = Buffer.alloc(4);
  h.writeUInt32BE(b.length);
  return Buffer.concat([h, b]);
}

test('garbage, unknown types and error messages from the supervisor are skipped; an oversize frame causes a reconnect', async (t) => {
  const dir = tempDir(t);
  const sup = await rawSupervisor(t);
  let log = '';
  const daemon = spawn(process.execPath, [
    CLI_JS,
    'daemon',
    '--tcp-control-socket-addr',
    `127.0.0.1:${sup.port}`,
    '--socket',
    path.join(dir, 's.sock'),
    '--parameters-dir',
    path.join(dir, 'p'),
    '--log-level',
    'debug',
  ]);
  daemon.stderr.setEncoding('utf8').on('data', (d: string) => (log += d));
  t.teardown(() => daemon.kill('SIGKILL'));
  const isReady = (m: PuppetMessage) => 'event' in m && m.event.type === 'ready';
  await waitFor('ready', () => sup.received.some(isReady));

  const s = sup.current();
  s.write(frame('{"supervisor_event_id": 0, "event": {"type": "selfdestruct"}}'));
  s.write(frame('not json'));
  s.write(frame(Buffer.from([0x22, 0xc3, 0x28, 0x22])));
  s.write(frame('{"message": "you sent garbage"}'));
  s.write(
    frame('{"supervisor_event_id": 1, "event": {"type": "runcommand", "cmdline": "not bytes", "environment": []}}'),
  );
  // still alive and serving: a valid command afterwards runs
  s.write(
    frame(
      JSON.stringify({
        supervisor_event_id: 2,
        event: { type: 'runcommand', cmdline: [...Buffer.from('true')], environment: [] },
      }),
    ),
  );
  const exited = (m: PuppetMessage) =>
    'event' in m && m.event.type === 'runcommandexitcode' && m.event.supervisor_event_id === 2;
  await waitFor('the valid command to finish', () => sup.received.some(exited));
  t.regex(log, /unknown event type "selfdestruct"/);
  t.regex(log, /not valid JSON/);
  t.regex(log, /not valid UTF-8/);
  t.regex(log, /supervisor reported an error: you sent garbage/);
  t.regex(log, /cmdline must be an array of byte values/);

  const h = Buffer.alloc(4);
  h.writeUInt32BE(0xfffffff0);
  sup.current().write(h);
  await waitFor('a reconnect', () => sup.connections() >= 2);
  t.regex(log, /protocol error from supervisor, reconnecting: frame length 4294967280 exceeds/);
  t.is(daemon.exitCode, null);
  t.is(sup.received.filter(isReady).length, 1);
});
