import test from 'ava';
import { recordingLogger } from '../helpers/log.js';
import { silentLogger } from '../../protocol/log.js';
import { once } from 'node:events';
import { connectUrl, SwitchboardConnection } from '../../supervisor/switchboard-connection.js';
import { JOB_ID, OTHER_JOB_ID, startMessage } from './fakes.js';
import { fakeSwitchboard, handlers, SUPERVISOR_ID, until } from './fake-switchboard.js';

test('connects to the supervisor endpoint with its token and answers status requests from the runner', async (t) => {
  const sb = await fakeSwitchboard();
  const { h } = handlers({ type: 'ongoing_job', job_id: JOB_ID, job_state: { state: 'ready' } });
  const conn = new SwitchboardConnection({
    url: sb.url,
    supervisorId: SUPERVISOR_ID,
    token: 'sekrit',
    handlers: h,
    log: silentLogger,
  });
  t.teardown(async () => {
    await conn.close();
    await sb.close();
  });
  const connected = sb.nextConnection();
  conn.start();
  const ws = await connected;
  t.is(ws.protocol, 'treadmillv1');
  ws.send(JSON.stringify({ type: 'status_request', message: { request_id: OTHER_JOB_ID, message: null } }));
  await until(() => sb.received.length === 1);
  t.deepEqual(sb.received[0], {
    type: 'status_response',
    message: {
      response_to_request_id: OTHER_JOB_ID,
      message: { type: 'ongoing_job', job_id: JOB_ID, job_state: { state: 'ready' } },
    },
  });
});

test('start_job and stop_job reach the runner; a broken start_job that names its job is rejected', async (t) => {
  const sb = await fakeSwitchboard();
  const { h, calls, started } = handlers();
  const lines: string[] = [];
  const conn = new SwitchboardConnection({
    url: sb.url,
    supervisorId: SUPERVISOR_ID,
    token: 'sekrit',
    handlers: h,
    log: recordingLogger((_l, line) => lines.push(line)),
  });
  t.teardown(async () => {
    await conn.close();
    await sb.close();
  });
  const connected = sb.nextConnection();
  conn.start();
  const ws = await connected;
  ws.send(JSON.stringify({ type: 'start_job', message: startMessage() }));
  ws.send('not json');
  ws.send(JSON.stringify({ type: 'start_job', message: { ...startMessage({ job_id: OTHER_JOB_ID }), ssh_keys: 'x' } }));
  ws.send(JSON.stringify({ type: 'stop_job', message: { job_id: JOB_ID } }));
  await until(() => calls.length === 3);
  t.deepEqual(calls, [
    `start ${JOB_ID}`,
    `reject ${OTHER_JOB_ID}: the supervisor could not use start_job: ssh_keys must be an array of strings`,
    `stop ${JOB_ID}`,
  ]);
  t.deepEqual(started[0], startMessage());
  t.true(lines.some((l) => l.includes('message is not valid JSON')));
});

test('events sent while the switchboard is away are delivered in order after reconnecting', async (t) => {
  const sb = await fakeSwitchboard();
  const { h } = handlers();
  const conn = new SwitchboardConnection({
    url: sb.url,
    supervisorId: SUPERVISOR_ID,
    token: 'sekrit',
    handlers: h,
    log: silentLogger,
    initialBackoffMs: 10,
    maxBackoffMs: 20,
  });
  t.teardown(async () => {
    await conn.close();
    await sb.close();
  });
  let connected = sb.nextConnection();
  conn.start();
  await connected;
  connected = sb.nextConnection();
  const disconnected = once(conn, 'disconnected');
  sb.latest().terminate();
  await disconnected;
  const event = (n: number) => ({
    type: 'supervisor_event' as const,
    message: {
      type: 'job_event' as const,
      job_id: JOB_ID,
      event: { type: 'console_log' as const, console_bytes: [n] },
    },
  });
  conn.send(event(1));
  conn.send(event(2));
  await connected;
  await until(() => sb.received.length === 2);
  t.deepEqual(sb.received, [event(1), event(2)]);
  t.is(sb.connections, 2);
});

test('a rejected token is fatal and not retried', async (t) => {
  const sb = await fakeSwitchboard();
  const { h } = handlers();
  const conn = new SwitchboardConnection({
    url: sb.url,
    supervisorId: SUPERVISOR_ID,
    token: 'wrong',
    handlers: h,
    log: silentLogger,
    initialBackoffMs: 1,
  });
  t.teardown(async () => {
    await conn.close();
    await sb.close();
  });
  conn.start();
  const [err] = (await once(conn, 'fatal')) as [Error];
  t.regex(err.message, /rejected the supervisor token \(HTTP 401\)/);
  // Long enough for dozens of retries at a 1 ms backoff.
  await new Promise((r) => setTimeout(r, 200));
  t.is(sb.attempts, 1);
  t.is(sb.connections, 0);
});

test('an unreachable switchboard is retried until it appears', async (t) => {
  const sb = await fakeSwitchboard();
  const url = sb.url;
  await sb.close();
  const { h } = handlers();
  const conn = new SwitchboardConnection({
    url,
    supervisorId: SUPERVISOR_ID,
    token: 'sekrit',
    handlers: h,
    log: silentLogger,
    initialBackoffMs: 5,
    maxBackoffMs: 20,
  });
  t.teardown(() => conn.close());
  conn.start();
  await new Promise((r) => setTimeout(r, 50));
  t.false(conn.connected);
  // The switchboard comes back where it was; the supervisor finds it on its own.
  const back = await fakeSwitchboard({ port: sb.port });
  t.teardown(() => back.close());
  const connected = once(conn, 'connected');
  await Promise.race([
    connected,
    new Promise((_, reject) => setTimeout(() => reject(new Error('not connected within 5 s')), 5000)),
  ]);
  t.true(conn.connected);
  t.is(back.connections, 1);
});

test('the connect URL is derived from http, https and ws base URLs', (t) => {
  t.is(connectUrl('http://127.0.0.1:8080', 'abc'), 'ws://127.0.0.1:8080/api/v1/supervisors/abc/connect');
  t.is(connectUrl('https://tml.example/prefix/', 'abc'), 'wss://tml.example/prefix/api/v1/supervisors/abc/connect');
  t.is(connectUrl('ws://h:1', 'abc'), 'ws://h:1/api/v1/supervisors/abc/connect');
  t.throws(() => connectUrl('ftp://h', 'abc'), { message: /must be http\(s\):\/\/ or ws\(s\):\/\// });
  t.throws(() => connectUrl('not a url', 'abc'), { message: /invalid switchboard URL/ });
});

function connection(url: string, extra: Partial<ConstructorParameters<typeof SwitchboardConnection>[0]> = {}) {
  const lines: string[] = [];
  const conn = new SwitchboardConnection({
    url,
    supervisorId: SUPERVISOR_ID,
    token: 'sekrit',
    handlers: handlers().h,
    log: recordingLogger((_l, line) => lines.push(line)),
    initialBackoffMs: 10,
    maxBackoffMs: 40,
    ...extra,
  });
  return { conn, lines };
}

test("with the switchboard's tml-socket-config it reconnects when no ping came for `keepalive`", async (t) => {
  const sb = await fakeSwitchboard({ socketConfig: '{"keepalive":{"ping_interval":"100ms","keepalive":"300ms"}}' });
  const { conn, lines } = connection(sb.url);
  t.teardown(async () => {
    await conn.close();
    await sb.close();
  });
  conn.start();
  await until(() => sb.connections === 2);
  t.true(lines.some((l) => l === 'no ping from the switchboard for 300 ms; reconnecting'));
});

test('a switchboard that pings every ping_interval keeps the connection', async (t) => {
  const sb = await fakeSwitchboard({
    socketConfig: '{"keepalive":{"ping_interval":"50ms","keepalive":"0.3s"}}',
    pingMs: 50,
  });
  const { conn } = connection(sb.url);
  t.teardown(async () => {
    await conn.close();
    await sb.close();
  });
  conn.start();
  await until(() => conn.connected);
  await new Promise((r) => setTimeout(r, 700));
  t.is(sb.connections, 1);
  t.true(conn.connected);
});

test('another instance holding the id (HTTP 409) is fatal, with the reason the switchboard gave', async (t) => {
  const body = '{"error":{"code":"conflict","message":"supervisor rack-1 is already connected from 10.0.0.5:4711"}}';
  const sb = await fakeSwitchboard({ status: 409, body });
  const { conn } = connection(sb.url);
  t.teardown(async () => {
    await conn.close();
    await sb.close();
  });
  conn.start();
  const [err] = (await once(conn, 'fatal')) as [Error];
  t.is(
    err.message,
    `another tml-supervisor instance holds supervisor id ${SUPERVISOR_ID} at the switchboard (HTTP 409: supervisor rack-1 is already connected from 10.0.0.5:4711) at ${connectUrl(sb.url, SUPERVISOR_ID)}`,
  );
});

test("an upstream switchboard's 403 names both the id and the token", async (t) => {
  const sb = await fakeSwitchboard({ status: 403 });
  const { conn } = connection(sb.url);
  t.teardown(async () => {
    await conn.close();
    await sb.close();
  });
  conn.start();
  const [err] = (await once(conn, 'fatal')) as [Error];
  t.regex(
    err.message,
    new RegExp(
      `^the switchboard refused supervisor id ${SUPERVISOR_ID} with this token \\(check both\\) \\(HTTP 403\\)`,
    ),
  );
});

test('the backoff does not restart on a connection that is dropped before the switchboard pinged', async (t) => {
  const sb = await fakeSwitchboard({ dropAfterOpen: true });
  const { conn } = connection(sb.url, { initialBackoffMs: 20, maxBackoffMs: 10_000 });
  t.teardown(async () => {
    await conn.close();
    await sb.close();
  });
  conn.start();
  await new Promise((r) => setTimeout(r, 600));
  // Delays of 10-20, 20-40, 40-80, 80-160, 160-320 ms: at most 6 attempts; a backoff that restarted
  // on every open would have made about 30.
  t.true(sb.connections >= 3 && sb.connections <= 6, `${sb.connections} connections`);
});
