// A hostile or broken supervisor or local client must not take the daemon down, make it write
// what it should not, hold start-up beyond the host's ready time-out, or grow its memory; and a
// report the boot script was told about has really left the daemon.
import test from 'ava';
import { attempt } from '../../protocol/validation.js';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { FrameDecoder, decodeFrameBody, encodeFrame } from '../../protocol/control-socket/framing.js';
import { CLI_JS, baseContext, spawnDaemon, startJob, tempDir, waitFor } from './harness.js';
import { upstreamSupervisor } from './upstream-supervisors.js';

function script(dir: string, name: string, body: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, `#!/bin/sh\n${body}\n`);
  chmodSync(file, 0o755);
  return file;
}

const peakRssMiB = (pid: number) =>
  Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

test('a NUL byte in the network config stops the daemon with one log line under the default exit rule', async (t) => {
  const dir = tempDir(t);
  const marker = path.join(dir, 'ran');
  const context = baseContext();
  context.networkConfig = { hostname: 'board\u0000; reboot', interface: null, ipv4: null, ipv6: null };
  const job = await startJob(t, {
    context,
    waitReady: false,
    daemonArgs: ['--network-config-script', script(dir, 'net.sh', `touch ${marker}`)],
  });
  t.is(await job.closed, 1);
  t.regex(job.daemonLog(), /fatal: the network configuration from the supervisor holds a NUL byte in HOSTNAME/);
  t.notRegex(job.daemonLog(), /at .*\.js:\d+/, 'no stack trace');
  t.false(existsSync(marker));
});

test('a NUL byte in the network config is refused with a log line and start-up goes on with --no-exit-on-network-config-error', async (t) => {
  const dir = tempDir(t);
  const marker = path.join(dir, 'ran');
  const context = baseContext();
  context.networkConfig = {
    hostname: 'board',
    interface: null,
    ipv4: { address: '10.0.0.2', prefix_length: 24, gateway: null, nameservers: ['10.0.0.1\u0000'] },
    ipv6: null,
  };
  const job = await startJob(t, {
    context,
    daemonArgs: [
      '--network-config-script',
      script(dir, 'net.sh', `touch ${marker}`),
      '--no-exit-on-network-config-error',
    ],
  });
  t.deepEqual(job.eventsOf('ready'), [{ type: 'ready' }]);
  t.regex(job.daemonLog(), /error +the network configuration from the supervisor holds a NUL byte in IPV4_NAMESERVERS/);
  t.false(existsSync(marker));
  t.is(job.daemon.exitCode, null);
});

test('100 000 parameters are written well within the ready time-out', async (t) => {
  // /run, where images keep parameters, is a tmpfs; /dev/shm is one here
  const base = existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
  const paramsDir = mkdtempSync(path.join(base, 'tml-puppet-params-'));
  t.teardown(() => rmSync(paramsDir, { recursive: true, force: true }));
  const context = baseContext();
  context.parameters = {};
  for (let i = 0; i < 100_000; i++) context.parameters[`param-${i}`] = { value: `value ${i}`, secret: i % 2 === 0 };
  const t0 = performance.now();
  const job = await startJob(t, { context, paramsDir });
  const ms = performance.now() - t0;
  t.log(`100 000 parameters: ready after ${Math.round(ms)} ms`);
  // Well inside the local host's 30 s ready time-out even on a loaded machine (it took 40 s before).
  t.true(ms < 20_000, `ready after ${Math.round(ms)} ms`);
  t.is(readdirSync(paramsDir).length, 100_000);
  t.is(readFileSync(path.join(paramsDir, 'param-99999'), 'utf8'), 'value 99999');
  t.regex(job.daemonLog(), /wrote 100000 parameter file\(s\) \(50000 secret\)/);
});

test('40 slow local clients sending endless requests leave the daemon small and serving', async (t) => {
  const job = await startJob(t);
  const chunk = Buffer.alloc(1024 * 1024, 'x');
  const clients = Array.from({ length: 40 }, () => {
    const s = net.connect(job.socket);
    s.on('error', () => {});
    let sent = 0;
    const pump = () => {
      // 16 MiB each, and never a newline
      while (sent < 16 && !s.destroyed && s.write(chunk)) sent++;
    };
    s.on('connect', pump);
    s.on('drain', () => {
      sent++;
      pump();
    });
    return s;
  });
  t.teardown(() => clients.forEach((c) => c.destroy()));
  await new Promise((r) => setTimeout(r, 3000));
  const peak = peakRssMiB(job.daemon.pid!);
  t.true(peak < 200, `daemon peak RSS ${peak.toFixed(0)} MiB`);
  clients.forEach((c) => c.destroy());
  const info = await job.client(['job', 'info']);
  t.is(info.code, 0);
});

test('local clients beyond the limit are told so at once, and served again when others leave', async (t) => {
  const job = await startJob(t);
  const idle = await Promise.all(
    Array.from({ length: 32 }, async () => {
      const s = net.connect(job.socket);
      await once(s, 'connect');
      return s;
    }),
  );
  t.teardown(() => idle.forEach((s) => s.destroy()));
  const refused = await job.client(['job', 'info']);
  t.is(refused.code, 1);
  t.regex(refused.stderr, /serving 32 clients already; try again\n$/);
  idle.forEach((s) => s.destroy());
  await waitFor('a free slot', async () => (await job.client(['job', 'info'])).code === 0);
  t.pass();
});

test('a local client that sends no complete request is disconnected after the deadline', async (t) => {
  const job = await startJob(t);
  const s = net.connect(job.socket);
  let answer = '';
  s.setEncoding('utf8').on('data', (d: string) => (answer += d));
  s.write('{"op":"ping"'); // and never the rest
  const t0 = performance.now();
  await once(s, 'close');
  const secs = (performance.now() - t0) / 1000;
  t.true(secs > 8 && secs < 15, `closed after ${secs.toFixed(1)} s`);
  t.deepEqual(JSON.parse(answer), { ok: false, error: 'no complete request within 10 s' });
});

/**
 * A supervisor of this project (it takes workload reports) that can stop reading, so that the
 * puppet's control socket backs up: raw frames, to control the socket.
 */
async function stallingSupervisor(t: import('ava').ExecutionContext) {
  const events: Array<{ type: string }> = [];
  let current: net.Socket | null = null;
  const server = net.createServer((socket) => {
    current = socket;
    socket.on('error', () => {});
    const decoder = new FrameDecoder();
    socket.on('data', (chunk: Buffer) => {
      for (const f of decoder.push(chunk).frames) {
        const body = attempt(() => decodeFrameBody(f));
        if (!body.ok) continue;
        const m = body.value as { request_id?: number; request?: { type: string }; event?: { type: string } };
        if (m.event) events.push(m.event);
        if (m.request_id === undefined || !m.request) continue;
        const response =
          m.request.type === 'extensions'
            ? { type: 'extensions', extensions: ['declareworkloadexitstatus', 'reportsubstate'] }
            : m.request.type === 'jobinfo'
              ? { type: 'jobinfo', job_id: 'j', host_id: 'h' }
              : m.request.type === 'parameters'
                ? { type: 'parameters', parameters: {} }
                : { type: 'jobnotfound' };
        socket.write(encodeFrame({ request_id: m.request_id, response }));
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    current?.destroy();
    server.close();
  });
  return {
    port: (server.address() as net.AddressInfo).port,
    events,
    socket: () => current!,
  };
}

test('job finish returns only once its report has left the daemon, even behind a backlog', async (t) => {
  const sup = await stallingSupervisor(t);
  const d = spawnDaemon(t, { port: sup.port });
  await waitFor('ready', () => sup.events.some((e) => e.type === 'ready'));
  // a command floods the control socket while the supervisor stops reading
  sup.socket().pause();
  sup.socket().write(
    encodeFrame({
      supervisor_event_id: 0,
      event: { type: 'runcommand', cmdline: [...Buffer.from('yes')], environment: [] },
    }),
  );
  await waitFor('the backlog', () => /command 0: starting/.test(d.daemonLog()));
  await new Promise((r) => setTimeout(r, 500));
  const finish = spawn(process.execPath, [CLI_JS, 'job', 'finish', '--status', 'success'], {
    env: { ...process.env, TML_PUPPET_SOCKET: d.socket },
    stdio: 'ignore',
  });
  t.teardown(() => finish.kill('SIGKILL'));
  const exited = new Promise<number | null>((resolve) => finish.once('exit', (code) => resolve(code)));
  const early = await Promise.race([exited, new Promise((r) => setTimeout(() => r('waiting'), 1500))]);
  t.is(early, 'waiting', 'job finish must not return while its report is still in the daemon');
  sup.socket().write(encodeFrame({ supervisor_event_id: 1, event: { type: 'killcommand', supervisor_event_id: 0 } }));
  sup.socket().resume();
  t.is(await exited, 0);
  await waitFor('the report', () => sup.events.some((e) => e.type === 'declareworkloadexitstatus'));
  t.pass();
});

test('a report queued while disconnected is not sent to an upstream supervisor that takes over', async (t) => {
  const job = await startJob(t);
  await job.stopServer();
  await waitFor('the daemon to notice', () => /lost connection to supervisor/.test(job.daemonLog()));
  const fin = await job.client(['job', 'finish', '--status', 'success']);
  t.is(fin.code, 0);
  t.regex(fin.stderr, /supervisor not connected; the report is queued/);
  const sup = await upstreamSupervisor(
    t,
    '2025',
    { jobId: 'j', hostId: 'h', sshKeys: [], parameters: {} },
    { port: job.server.port },
  );
  await waitFor('the reconnect', () =>
    /dropped 1 workload report\(s\) queued while disconnected/.test(job.daemonLog()),
  );
  t.deepEqual(sup.eventsOf('declareworkloadexitstatus'), []);
  t.deepEqual(
    sup.refused.map((m) => JSON.stringify(m['request'])),
    ['{"type":"extensions"}'],
  );
});
