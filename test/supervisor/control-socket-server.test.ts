import test from 'ava';
import { recordingLogger } from '../helpers/log.js';
import { attempt } from '../../protocol/validation.js';
import net from 'node:net';
import { once } from 'node:events';
import { ControlSocketServer, type JobContext } from '../../supervisor/control-socket/server.js';
import { FrameDecoder, MAX_FRAME_LENGTH, decodeFrameBody, encodeFrame } from '../../protocol/control-socket/framing.js';
import {
  parseSupervisorMessage,
  type PuppetEvent,
  type SupervisorMessage,
} from '../../protocol/control-socket/messages.js';

const context: JobContext = {
  jobId: '11111111-2222-4333-8444-555555555555',
  hostId: '66666666-7777-4888-9999-aaaaaaaaaaaa',
  sshKeys: ['ssh-ed25519 AAAA one', 'ssh-rsa BBBB two'],
  networkConfig: null,
  parameters: { board: { value: 'nrf52', secret: false }, token: { value: 'hunter2', secret: true } },
};

/** A bare-bones puppet speaking raw frames, for exercising the server. */
class RawPeer {
  readonly messages: SupervisorMessage[] = [];
  readonly raw: unknown[] = [];
  #decoder = new FrameDecoder();
  #waiters: Array<() => void> = [];
  constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      for (const f of this.#decoder.push(chunk).frames) {
        const body = attempt(() => decodeFrameBody(f));
        if (!body.ok) continue;
        this.raw.push(body.value);
        const parsed = attempt(() => parseSupervisorMessage(body.value));
        if (parsed.ok) this.messages.push(parsed.value);
      }
      for (const w of this.#waiters.splice(0)) w();
    });
  }
  static async connect(server: ControlSocketServer): Promise<RawPeer> {
    const socket = net.connect(server.port, server.host);
    await once(socket, 'connect');
    return new RawPeer(socket);
  }
  send(message: unknown): void {
    this.socket.write(encodeFrame(message));
  }
  async next(count: number): Promise<SupervisorMessage[]> {
    while (this.messages.length < count) await new Promise<void>((r) => this.#waiters.push(r));
    return this.messages.slice(0, count);
  }
}

async function setup(t: import('ava').ExecutionContext, ctx: JobContext = context) {
  const logs: string[] = [];
  const server = await ControlSocketServer.listen({
    context: ctx,
    log: recordingLogger((level, line) => logs.push(`${level} ${line}`)),
  });
  t.teardown(() => server.close());
  return { server, logs };
}

test('answers every request type from the job context', async (t) => {
  const { server } = await setup(t);
  const peer = await RawPeer.connect(server);
  t.teardown(() => peer.socket.destroy());
  for (const [i, type] of ['ping', 'jobinfo', 'sshkeys', 'parameters', 'jobid'].entries()) {
    peer.send({ request_id: i, request: { type } });
  }
  const answers = await peer.next(5);
  t.deepEqual(answers, [
    { request_id: 0, response: { type: 'pingresp' } },
    { request_id: 1, response: { type: 'jobinfo', job_id: context.jobId, host_id: context.hostId } },
    { request_id: 2, response: { type: 'sshkeysresp', ssh_keys: context.sshKeys } },
    { request_id: 3, response: { type: 'parameters', parameters: context.parameters } },
    { request_id: 4, response: { type: 'jobid', job_id: context.jobId } },
  ]);
});

test("without a network config of its own, networkconfig is answered as upstream's QEMU supervisor does", async (t) => {
  const { server } = await setup(t);
  const peer = await RawPeer.connect(server);
  t.teardown(() => peer.socket.destroy());
  peer.send({ request_id: 0, request: { type: 'networkconfig' } });
  await peer.next(1);
  // the exact bytes an upstream puppet parses: hostname job-<first 10 characters of the job id>
  t.deepEqual(peer.raw, [
    {
      request_id: 0,
      response: { type: 'networkconfig', hostname: 'job-11111111-2', interface: null, ipv4: null, ipv6: null },
    },
  ]);
});

test('a puppet that asks for extensions hears which workload reports this supervisor takes', async (t) => {
  const { server } = await setup(t);
  const peer = await RawPeer.connect(server);
  t.teardown(() => peer.socket.destroy());
  peer.send({ request_id: 0, request: { type: 'extensions' } });
  await peer.next(1);
  t.deepEqual(peer.raw, [
    { request_id: 0, response: { type: 'extensions', extensions: ['declareworkloadexitstatus', 'reportsubstate'] } },
  ]);
});

test("an upstream puppet's session never receives a frame outside the spec's upstream part", async (t) => {
  const { server } = await setup(t);
  const peer = await RawPeer.connect(server);
  t.teardown(() => peer.socket.destroy());
  // what a 2025 upstream puppet sends from start to ready, then a 2026 one's service announcement
  for (const [i, type] of ['jobinfo', 'sshkeys', 'networkconfig', 'parameters'].entries())
    peer.send({ request_id: i, request: { type } });
  peer.send({ puppet_event_id: 0, event: { type: 'ready' } });
  peer.send({ puppet_event_id: 1, event: { type: 'jobserviceset', services: [] } });
  peer.send({ request_id: 4, request: { type: 'ping' } });
  server.runCommand('/bin/true');
  await peer.next(6);
  const upstreamResponses = new Set(['jobinfo', 'sshkeysresp', 'networkconfig', 'parameters', 'pingresp']);
  const upstreamEvents = new Set(['sshkeysupdated', 'shutdownreq', 'rebootreq', 'runcommand', 'killcommand']);
  for (const frame of peer.raw as Array<Record<string, { type: string }>>) {
    if ('response' in frame) t.true(upstreamResponses.has(frame['response']!.type), JSON.stringify(frame));
    else t.true(upstreamEvents.has(frame['event']!.type), JSON.stringify(frame));
  }
  t.is(peer.raw.length, 6, 'the unknown jobserviceset event is ignored, not answered');
});

test('serves the network config when the context has one, and follows context updates', async (t) => {
  const { server } = await setup(t);
  server.updateContext({
    networkConfig: {
      hostname: 'h1',
      interface: 'eth0',
      ipv4: { address: '10.1.1.2', prefix_length: 24, gateway: null, nameservers: [] },
      ipv6: null,
    },
    sshKeys: ['ssh-ed25519 CCCC three'],
  });
  const peer = await RawPeer.connect(server);
  t.teardown(() => peer.socket.destroy());
  peer.send({ request_id: 0, request: { type: 'networkconfig' } });
  peer.send({ request_id: 1, request: { type: 'sshkeys' } });
  const [net0, keys] = await peer.next(2);
  t.like(net0, { response: { type: 'networkconfig', hostname: 'h1', interface: 'eth0', ipv6: null } });
  t.deepEqual(keys, { request_id: 1, response: { type: 'sshkeysresp', ssh_keys: ['ssh-ed25519 CCCC three'] } });
});

test('delivers puppet events with their ids and signals ready', async (t) => {
  const { server } = await setup(t);
  const seen: Array<[PuppetEvent, number]> = [];
  server.on('puppet-event', (e: PuppetEvent, id: number) => seen.push([e, id]));
  const ready = once(server, 'ready');
  const peer = await RawPeer.connect(server);
  t.teardown(() => peer.socket.destroy());
  peer.send({ puppet_event_id: 0, event: { type: 'reportsubstate', substate: 'flashing' } });
  peer.send({ puppet_event_id: 1, event: { type: 'ready' } });
  await ready;
  t.deepEqual(seen, [
    [{ type: 'reportsubstate', substate: 'flashing' }, 0],
    [{ type: 'ready' }, 1],
  ]);
  t.true(server.connected);
});

test('numbers supervisor events from 0 and holds them until a puppet connects', async (t) => {
  const { server } = await setup(t);
  t.is(server.sendEvent({ type: 'sshkeysupdated' }), 0);
  t.is(server.sendEvent({ type: 'shutdownreq' }), 1);
  const peer = await RawPeer.connect(server);
  t.teardown(() => peer.socket.destroy());
  t.is(server.sendEvent({ type: 'rebootreq' }), 2);
  t.deepEqual(await peer.next(3), [
    { supervisor_event_id: 0, event: { type: 'sshkeysupdated' } },
    { supervisor_event_id: 1, event: { type: 'shutdownreq' } },
    { supervisor_event_id: 2, event: { type: 'rebootreq' } },
  ]);
});

test('runCommand sends byte arrays and routes output, exit and kill by event id', async (t) => {
  const { server } = await setup(t);
  const peer = await RawPeer.connect(server);
  t.teardown(() => peer.socket.destroy());
  const run = server.runCommand('/bin/true', [['A', 'é']]);
  const [msg] = await peer.next(1);
  t.deepEqual(msg, {
    supervisor_event_id: run.eventId,
    event: { type: 'runcommand', cmdline: [...Buffer.from('/bin/true')], environment: [[[65], [0xc3, 0xa9]]] },
  });
  run.kill();
  t.deepEqual((await peer.next(2))[1], {
    supervisor_event_id: run.eventId + 1,
    event: { type: 'killcommand', supervisor_event_id: run.eventId },
  });
  const output: string[] = [];
  run.on('output', (chunk: Buffer, stream: string) => output.push(`${stream}:${chunk.toString()}`));
  const exited = once(run, 'exit');
  peer.send({
    puppet_event_id: 0,
    event: {
      type: 'runcommandoutput',
      supervisor_event_id: run.eventId,
      output: [...Buffer.from('hi')],
      stream: 'stdout',
    },
  });
  peer.send({
    puppet_event_id: 1,
    event: { type: 'runcommandoutput', supervisor_event_id: run.eventId, output: [33], stream: 'stderr' },
  });
  peer.send({
    puppet_event_id: 2,
    event: { type: 'runcommandexitcode', supervisor_event_id: run.eventId, exit_code: null, killed: true },
  });
  t.deepEqual(await exited, [null, true]);
  t.deepEqual(output, ['stdout:hi', 'stderr:!']);
});

test('runcommanderror reaches the command as an error event', async (t) => {
  const { server } = await setup(t);
  const peer = await RawPeer.connect(server);
  t.teardown(() => peer.socket.destroy());
  const run = server.runCommand('/nonexistent');
  const failed = once(run, 'error');
  peer.send({
    puppet_event_id: 0,
    event: { type: 'runcommanderror', supervisor_event_id: run.eventId, error: 'ENOENT' },
  });
  t.deepEqual(await failed, ['ENOENT']);
});

test('invalid JSON and invalid UTF-8 are answered with a generic message and the connection survives', async (t) => {
  const { server, logs } = await setup(t);
  const peer = await RawPeer.connect(server);
  t.teardown(() => peer.socket.destroy());
  const body = Buffer.from('{"request_id": 0,');
  const h = Buffer.alloc(4);
  h.writeUInt32BE(body.length);
  peer.socket.write(Buffer.concat([h, body]));
  const bad = Buffer.from([0x22, 0xff, 0x22]);
  h.writeUInt32BE(bad.length);
  peer.socket.write(Buffer.concat([h, bad]));
  peer.send({ request_id: 7, request: { type: 'ping' } });
  const msgs = await peer.next(3);
  t.true('message' in msgs[0]! && /JSON/.test(msgs[0].message));
  t.true('message' in msgs[1]! && /UTF-8/.test(msgs[1].message));
  t.deepEqual(msgs[2], { request_id: 7, response: { type: 'pingresp' } });
  t.true(logs.some((l) => l.startsWith('warn')));
});

test('an unknown request type is answered with unsupportedrequest', async (t) => {
  const { server } = await setup(t);
  const peer = await RawPeer.connect(server);
  t.teardown(() => peer.socket.destroy());
  peer.send({ request_id: 3, request: { type: 'teleport' } });
  t.deepEqual(await peer.next(1), [{ request_id: 3, response: { type: 'unsupportedrequest' } }]);
});

test('an unknown event type is logged and ignored', async (t) => {
  const { server, logs } = await setup(t);
  const seen: unknown[] = [];
  server.on('puppet-event', (e) => seen.push(e));
  const peer = await RawPeer.connect(server);
  t.teardown(() => peer.socket.destroy());
  peer.send({ puppet_event_id: 0, event: { type: 'teleport' } });
  peer.send({ request_id: 0, request: { type: 'ping' } });
  await peer.next(1);
  t.deepEqual(seen, []);
  t.is(peer.messages.length, 1);
  t.true(logs.some((l) => /ignoring unknown event type "teleport"/.test(l)));
});

test('a corrupted frame holding a secret is answered and logged without its content', async (t) => {
  const { server, logs } = await setup(t);
  const peer = await RawPeer.connect(server);
  t.teardown(() => peer.socket.destroy());
  const body = Buffer.from('{"puppet_event_id":0,"event":{"type":"reportsubstate","substate":x"SECRET-hunter2"}}');
  const h = Buffer.alloc(4);
  h.writeUInt32BE(body.length);
  peer.socket.write(Buffer.concat([h, body]));
  const [reply] = await peer.next(1);
  t.true(reply !== undefined && 'message' in reply && /^frame is not valid JSON/.test(reply.message));
  t.false(JSON.stringify(peer.raw).includes('SECRET'));
  t.true(logs.some((l) => /frame is not valid JSON/.test(l)));
  t.false(logs.some((l) => l.includes('SECRET')));
});

test('an oversize frame length drops the connection and the server keeps serving', async (t) => {
  const { server } = await setup(t);
  const peer = await RawPeer.connect(server);
  const closed = once(peer.socket, 'close');
  const h = Buffer.alloc(4);
  h.writeUInt32BE(MAX_FRAME_LENGTH + 1);
  peer.socket.write(h);
  await closed;
  const again = await RawPeer.connect(server);
  t.teardown(() => again.socket.destroy());
  again.send({ request_id: 0, request: { type: 'ping' } });
  t.deepEqual(await again.next(1), [{ request_id: 0, response: { type: 'pingresp' } }]);
});

test('a new puppet connection replaces the old one, with disconnect and connection events', async (t) => {
  const { server } = await setup(t);
  const events: string[] = [];
  server.on('connection', () => events.push('connection'));
  server.on('disconnect', () => events.push('disconnect'));
  const first = await RawPeer.connect(server);
  await new Promise((r) => setImmediate(r));
  const firstClosed = once(first.socket, 'close');
  const second = await RawPeer.connect(server);
  t.teardown(() => second.socket.destroy());
  await firstClosed;
  second.send({ request_id: 0, request: { type: 'ping' } });
  await second.next(1);
  t.deepEqual(events, ['connection', 'disconnect', 'connection']);
  t.true(server.connected);
});

test('command output in a non-canonical JSON layout is delivered too', async (t) => {
  const { server } = await setup(t);
  const peer = await RawPeer.connect(server);
  t.teardown(() => peer.socket.destroy());
  const run = server.runCommand('x');
  const got = once(run, 'output');
  const body = Buffer.from(
    `{ "puppet_event_id": 0, "event": { "stream": "stderr", "output": [104, 105], "supervisor_event_id": ${run.eventId}, "type": "runcommandoutput" } }`,
  );
  const h = Buffer.alloc(4);
  h.writeUInt32BE(body.length);
  peer.socket.write(Buffer.concat([h, body]));
  const [chunk, stream] = await got;
  t.deepEqual([(chunk as Buffer).toString(), stream], ['hi', 'stderr']);
});

test('puppet-event listeners see command output as an array of byte values', async (t) => {
  const { server } = await setup(t);
  const peer = await RawPeer.connect(server);
  t.teardown(() => peer.socket.destroy());
  const seen = once(server, 'puppet-event');
  peer.send({
    puppet_event_id: 4,
    event: { type: 'runcommandoutput', supervisor_event_id: 9, output: [1, 2, 255], stream: 'stdout' },
  });
  const [event, id] = await seen;
  t.is(id, 4);
  t.deepEqual(JSON.parse(JSON.stringify(event)), {
    type: 'runcommandoutput',
    supervisor_event_id: 9,
    output: [1, 2, 255],
    stream: 'stdout',
  });
});
