// Several switchboard URLs (replicas of one switchboard on one database): the supervisor connects to
// the first, moves to the next one when a connection fails or drops, and carries its running job
// over to whichever replica it reaches.

import test from 'ava';
import { once } from 'node:events';
import type { JobEvent, ToSwitchboard } from '../../protocol/switchboard-ws.js';
import { JobRunner } from '../../supervisor/job-runner.js';
import { connectUrl, SwitchboardConnection } from '../../supervisor/switchboard-connection.js';
import { recordingLogger } from '../helpers/log.js';
import { fakeSwitchboard, handlers, SUPERVISOR_ID, until } from './fake-switchboard.js';
import { fakeDeps, hostStarted, JOB_ID, OTHER_JOB_ID, startMessage } from './fakes.js';

const REQUEST_ID = OTHER_JOB_ID;

function connection(urls: string[], h = handlers().h) {
  const lines: string[] = [];
  const conn = new SwitchboardConnection({
    url: urls,
    supervisorId: SUPERVISOR_ID,
    token: 'sekrit',
    handlers: h,
    log: recordingLogger((_l, line) => lines.push(line)),
    initialBackoffMs: 10,
    maxBackoffMs: 40,
  });
  return { conn, lines };
}

const statusRequest = JSON.stringify({ type: 'status_request', message: { request_id: REQUEST_ID, message: null } });

const jobEvents = (received: unknown[]): JobEvent[] =>
  (received as ToSwitchboard[]).flatMap((m) =>
    m.type === 'supervisor_event' && m.message.type === 'job_event' ? [m.message.event] : [],
  );

const states = (received: unknown[]): string[] =>
  jobEvents(received).flatMap((e) => (e.type === 'state_transition' ? [e.new_state.state] : []));

test('when the first switchboard goes away the supervisor moves to the second and answers its status request', async (t) => {
  const first = await fakeSwitchboard();
  const second = await fakeSwitchboard();
  const { conn, lines } = connection([first.url, second.url]);
  t.teardown(async () => {
    await conn.close();
    await first.close();
    await second.close();
  });
  const atFirst = first.nextConnection();
  const atSecond = second.nextConnection();
  conn.start();
  await atFirst;
  t.is(second.attempts, 0);
  await first.close();
  const ws = await atSecond;
  ws.send(statusRequest);
  await until(() => second.received.length === 1);
  t.deepEqual(second.received[0], {
    type: 'status_response',
    message: { response_to_request_id: REQUEST_ID, message: { type: 'idle' } },
  });
  t.true(
    lines.includes(`switchboard ${first.url}: connection closed (code 1006); moving to ${second.url} now`),
    lines.join('\n'),
  );
  t.true(lines.includes(`connected to the switchboard at ${connectUrl(second.url, SUPERVISOR_ID)}`));
});

test('a replica that cannot be reached is passed over for the next, in turn', async (t) => {
  const dead = await fakeSwitchboard();
  await dead.close();
  const live = await fakeSwitchboard();
  const { conn, lines } = connection([dead.url, live.url]);
  t.teardown(async () => {
    await conn.close();
    await live.close();
  });
  const connected = live.nextConnection();
  conn.start();
  await connected;
  t.true(
    lines.some(
      (l) => l.startsWith(`switchboard ${dead.url}: cannot connect (`) && l.endsWith(`moving to ${live.url} now`),
    ),
    lines.join('\n'),
  );
  // Back round to the first once the second drops too, after the backoff.
  const back = once(conn, 'disconnected');
  await live.close();
  await back;
  await until(() => lines.some((l) => new RegExp(`moving to ${dead.url} in \\d+\\.\\d s$`).test(l)));
});

test('a job running when its switchboard dies is reported as ongoing to the next one, which gets its later events', async (t) => {
  const first = await fakeSwitchboard();
  const second = await fakeSwitchboard();
  const f = fakeDeps({
    send: (jobId, event) =>
      conn.send({ type: 'supervisor_event', message: { type: 'job_event', job_id: jobId, event } }),
  });
  const runner = new JobRunner(f.deps);
  // The runner sends through the connection once it runs a job, after both exist.
  const conn = connection([first.url, second.url], {
    status: () => runner.status(),
    startJob: (msg) => runner.start(msg),
    stopJob: (jobId) => runner.stop(jobId),
    rejectStart: (jobId, message) => runner.rejectStart(jobId, message),
  }).conn;
  t.teardown(async () => {
    await runner.shutdown();
    await conn.close();
    await first.close();
    await second.close();
  });
  const atFirst = first.nextConnection();
  const atSecond = second.nextConnection();
  conn.start();
  (await atFirst).send(JSON.stringify({ type: 'start_job', message: startMessage() }));
  const host = await hostStarted(f.backend);
  host.cb.onStage('provisioning', null);
  host.cb.onStage('booting', null);
  host.cb.onReady();
  await until(() => states(first.received).includes('ready'));

  const disconnected = once(conn, 'disconnected');
  await first.close();
  await disconnected;
  // Produced while no switchboard is connected: kept for the next one.
  host.cb.onPuppetEvent({ type: 'reportsubstate', substate: 'flashing' });
  void host.cb.onConsole(Buffer.from('between replicas\n'));

  const ws = await atSecond;
  ws.send(statusRequest);
  await until(() => second.received.some((m) => (m as ToSwitchboard).type === 'status_response'));
  const response = second.received.find((m) => (m as ToSwitchboard).type === 'status_response');
  t.like(response, {
    message: { response_to_request_id: REQUEST_ID, message: { type: 'ongoing_job', job_id: JOB_ID } },
  });
  t.like(jobEvents(second.received)[0], { type: 'state_transition', status_message: 'flashing' });
  // Console output goes out in batches, a moment later.
  await until(() => jobEvents(second.received).some((e) => e.type === 'console_log'));
  const consoleEvent = jobEvents(second.received).find((e) => e.type === 'console_log');
  t.is(
    consoleEvent?.type === 'console_log' && Buffer.from(consoleEvent.console_bytes).toString(),
    'between replicas\n',
  );

  host.cb.onPuppetEvent({ type: 'declareworkloadexitstatus', workload_exit_status: 'success', workload_output: 'ok' });
  host.cb.onExit({ kind: 'boot-script', code: 0, signal: null });
  await until(() => states(second.received).includes('terminated'));
  t.true(jobEvents(second.received).some((e) => e.type === 'declare_exit_status' && e.user_exit_status === 'success'));
  t.deepEqual(states(second.received).slice(-2), ['terminating', 'terminated']);
  t.false(states(first.received).includes('terminating'));
});

test('a replica that does not know the supervisor (404) is passed over for one that accepts it', async (t) => {
  const refusing = await fakeSwitchboard({ status: 404 });
  const accepting = await fakeSwitchboard();
  const { conn, lines } = connection([refusing.url, accepting.url]);
  let fatal: Error | null = null;
  conn.on('fatal', (err: Error) => (fatal = err));
  t.teardown(async () => {
    await conn.close();
    await refusing.close();
    await accepting.close();
  });
  const connected = accepting.nextConnection();
  conn.start();
  await connected;
  await until(() => conn.connected);
  t.is(fatal, null);
  t.true(
    lines.some((l) =>
      l.startsWith(`switchboard ${refusing.url}: the switchboard does not know supervisor id ${SUPERVISOR_ID}`),
    ),
    lines.join('\n'),
  );
});

test('every replica refusing the supervisor for good is fatal, in one line naming each', async (t) => {
  const unknown = await fakeSwitchboard({ status: 404 });
  const wrongToken = await fakeSwitchboard({ status: 401 });
  const { conn } = connection([unknown.url, wrongToken.url]);
  t.teardown(async () => {
    await conn.close();
    await unknown.close();
    await wrongToken.close();
  });
  conn.start();
  const [err] = (await once(conn, 'fatal')) as [Error];
  t.is(
    err.message,
    `the switchboard does not know supervisor id ${SUPERVISOR_ID} (HTTP 404) at ${connectUrl(unknown.url, SUPERVISOR_ID)}; ` +
      `the switchboard rejected the supervisor token (HTTP 401) at ${connectUrl(wrongToken.url, SUPERVISOR_ID)}`,
  );
  t.is(unknown.attempts, 1);
  t.is(wrongToken.attempts, 1);
});
