// The local commands a job's boot script uses, against a real daemon.
import test from 'ava';
import { existsSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { MAX_STATUS_MESSAGE_BYTES, MAX_WORKLOAD_OUTPUT_BYTES, truncationMarker } from '../../protocol/text-caps.js';
import { HOST_ID, JOB_ID, startJob, tempDir, waitFor, run, CLI_JS } from './harness.js';

test('job finish sends declareworkloadexitstatus with the output text', async (t) => {
  const job = await startJob(t);
  const r = await job.client(['job', 'finish', '--status', 'success', '--output', 'all 12 tests passed']);
  t.deepEqual([r.code, r.stdout, r.stderr], [0, '', '']);
  await waitFor('the report', () => job.eventsOf('declareworkloadexitstatus').length === 1);
  t.deepEqual(job.eventsOf('declareworkloadexitstatus'), [
    { type: 'declareworkloadexitstatus', workload_exit_status: 'success', workload_output: 'all 12 tests passed' },
  ]);
  t.deepEqual(job.eventsOf('terminatejob'), []);
});

test('job finish --output-file attaches the file and --terminate then sends terminatejob', async (t) => {
  const job = await startJob(t);
  const file = path.join(job.dir, 'report.txt');
  writeFileSync(file, 'FAIL test_uart\n');
  const r = await job.client(['job', 'finish', '--status', 'error', '--output-file', file, '--terminate']);
  t.is(r.code, 0);
  await waitFor('terminatejob', () => job.eventsOf('terminatejob').length === 1);
  const kinds = job.events.map(([e]) => e.type).filter((x) => x !== 'ready');
  t.deepEqual(kinds, ['declareworkloadexitstatus', 'terminatejob']);
  t.deepEqual(job.eventsOf('declareworkloadexitstatus')[0], {
    type: 'declareworkloadexitstatus',
    workload_exit_status: 'error',
    workload_output: 'FAIL test_uart\n',
  });
  t.deepEqual(job.eventsOf('terminatejob'), [{ type: 'terminatejob', supervisor_event_id: null }]);
});

test('job finish --output-file /dev/stdin reads the output from stdin; no output sends null', async (t) => {
  const job = await startJob(t);
  t.is(
    (await job.client(['job', 'finish', '--status', 'unknown', '--output-file', '/dev/stdin'], {}, 'from stdin')).code,
    0,
  );
  t.is((await job.client(['job', 'finish', '--status', 'error'])).code, 0);
  await waitFor('both reports', () => job.eventsOf('declareworkloadexitstatus').length === 2);
  t.deepEqual(
    job.eventsOf('declareworkloadexitstatus').map((e) => [e.workload_exit_status, e.workload_output]),
    [
      ['unknown', 'from stdin'],
      ['error', null],
    ],
  );
});

test('job finish rejects an invalid status with one line and sends nothing', async (t) => {
  const job = await startJob(t);
  const r = await job.client(['job', 'finish', '--status', 'meh']);
  t.is(r.code, 2);
  t.regex(r.stderr, /^tml-puppet: Invalid values:[^\n]*\n$/);
});

test('job substate sends reportsubstate', async (t) => {
  const job = await startJob(t);
  t.is((await job.client(['job', 'substate', 'flashing board'])).code, 0);
  await waitFor('the substate', () => job.eventsOf('reportsubstate').length === 1);
  t.deepEqual(job.eventsOf('reportsubstate'), [{ type: 'reportsubstate', substate: 'flashing board' }]);
});

test('the plain forms a boot script types, which skip yargs, do what yargs does with the same words', async (t) => {
  const job = await startJob(t);
  // a trailing `--` is the same command line to yargs, and not a plain form
  for (const tail of [[], ['--']]) {
    const r = await job.client(['parameter', 'get', 'board', ...tail]);
    t.deepEqual([r.code, r.stdout, r.stderr], [0, 'nrf52840dk', ''], `parameter get board ${tail.join(' ')}`);
    const missing = await job.client(['parameter', 'get', 'nope', ...tail]);
    t.deepEqual([missing.code, missing.stderr], [1, `tml-puppet: no parameter named "nope" in ${job.paramsDir}\n`]);
    t.is((await job.client(['job', 'substate', `step${tail.length}`, ...tail])).code, 0);
  }
  await waitFor('both substates', () => job.eventsOf('reportsubstate').length === 2);
  t.deepEqual(
    job.eventsOf('reportsubstate').map((e) => (e as { substate: string }).substate),
    ['step0', 'step1'],
  );
});

test('job terminate sends terminatejob', async (t) => {
  const job = await startJob(t);
  t.is((await job.client(['job', 'terminate'])).code, 0);
  await waitFor('terminatejob', () => job.eventsOf('terminatejob').length === 1);
  t.deepEqual(job.eventsOf('terminatejob'), [{ type: 'terminatejob', supervisor_event_id: null }]);
});

test('job info prints the job and host ids, as text or JSON', async (t) => {
  const job = await startJob(t);
  const text = await job.client(['job', 'info']);
  t.is(text.code, 0);
  t.is(text.stdout, `job id:  ${JOB_ID}\nhost id: ${HOST_ID}\n`);
  const json = await job.client(['job', 'info', '--json']);
  t.deepEqual(JSON.parse(json.stdout), { job_id: JOB_ID, host_id: HOST_ID });
});

test('parameter get prints the value byte for byte', async (t) => {
  const job = await startJob(t);
  const r = await job.client(['parameter', 'get', 'board']);
  t.deepEqual([r.code, r.stdout], [0, 'nrf52840dk']);
  t.is((await job.client(['parameter', 'get', 'token'])).stdout, 'TOPSECRET-hunter2');
});

test('parameter get for a missing name fails with one clear line', async (t) => {
  const job = await startJob(t);
  const r = await job.client(['parameter', 'get', 'nope']);
  t.is(r.code, 1);
  t.is(r.stderr, `tml-puppet: no parameter named "nope" in ${job.paramsDir}\n`);
  t.is(r.stdout, '');
});

test('parameter list prints the names, as lines or JSON', async (t) => {
  const job = await startJob(t);
  t.is((await job.client(['parameter', 'list'])).stdout, 'board\ntoken\n');
  t.deepEqual(JSON.parse((await job.client(['parameter', 'list', '--json'])).stdout), ['board', 'token']);
});

test('client commands fail with one line when the daemon is unreachable', async (t) => {
  const dir = tempDir(t);
  const env = { TML_PUPPET_SOCKET: path.join(dir, 'missing.sock') };
  for (const args of [
    ['job', 'finish', '--status', 'success'],
    ['job', 'substate', 'x'],
    ['job', 'terminate'],
    ['job', 'info'],
    ['job', 'run', '--', 'true'],
  ]) {
    const r = await run(process.execPath, [CLI_JS, ...args], env);
    t.is(r.code, 1, args.join(' '));
    t.is(r.stderr, `tml-puppet: cannot reach the puppet daemon at ${env.TML_PUPPET_SOCKET}: is the daemon running?\n`);
  }
});

test('reports made while the supervisor is away are queued and delivered after it comes back', async (t) => {
  const job = await startJob(t);
  await job.stopServer();
  await waitFor('the daemon to notice', () => /lost connection to supervisor/.test(job.daemonLog()));
  const sub = await job.client(['job', 'substate', 'running tests']);
  const fin = await job.client(['job', 'finish', '--status', 'success', '--output', 'ok', '--terminate']);
  t.deepEqual([sub.code, fin.code], [0, 0]);
  t.regex(fin.stderr, /queued/);
  const before = job.events.length;
  await job.startServer();
  await waitFor('the queued reports', () => job.events.length >= before + 3);
  t.deepEqual(
    job.events.slice(before).map(([e]) => e),
    [
      { type: 'reportsubstate', substate: 'running tests' },
      { type: 'declareworkloadexitstatus', workload_exit_status: 'success', workload_output: 'ok' },
      { type: 'terminatejob', supervisor_event_id: null },
    ],
  );
});

test('job run reports success for exit 0 and exits 0', async (t) => {
  const job = await startJob(t);
  const r = await job.client(['job', 'run', '--', 'sh', '-c', 'echo from-workload']);
  t.deepEqual([r.code, r.stdout], [0, 'from-workload\n']);
  await waitFor('the report', () => job.eventsOf('declareworkloadexitstatus').length === 1);
  t.is(job.eventsOf('declareworkloadexitstatus')[0]!.workload_exit_status, 'success');
});

test('job run reports error for a non-zero exit and exits with the same code', async (t) => {
  const job = await startJob(t);
  const r = await job.client(['job', 'run', '--terminate', '--substate', 'testing', '--', 'sh', '-c', 'exit 3']);
  t.is(r.code, 3);
  await waitFor('terminatejob', () => job.eventsOf('terminatejob').length === 1);
  t.deepEqual(
    job.events.map(([e]) => e.type).filter((x) => x !== 'ready'),
    ['reportsubstate', 'declareworkloadexitstatus', 'terminatejob'],
  );
  t.like(job.eventsOf('declareworkloadexitstatus')[0], {
    workload_exit_status: 'error',
    workload_output: 'sh exited with code 3',
  });
});

test('job run reports unknown when a signal ends the command and exits with 128 + signal', async (t) => {
  const job = await startJob(t);
  const r = await job.client(['job', 'run', '--', 'sh', '-c', 'kill -TERM $$']);
  t.is(r.code, 143);
  await waitFor('the report', () => job.eventsOf('declareworkloadexitstatus').length === 1);
  t.like(job.eventsOf('declareworkloadexitstatus')[0], {
    workload_exit_status: 'unknown',
    workload_output: 'sh was killed by SIGTERM',
  });
});

test('job run says on stderr why the command could not start, reports error and exits 127', async (t) => {
  const job = await startJob(t);
  const r = await job.client(['job', 'run', '--', '/nonexistent/prog']);
  t.is(r.code, 127);
  t.is(r.stderr, 'tml-puppet: /nonexistent/prog could not be started: no such file or directory (ENOENT)\n');
  await waitFor('the report', () => job.eventsOf('declareworkloadexitstatus').length === 1);
  t.deepEqual(job.eventsOf('declareworkloadexitstatus')[0], {
    type: 'declareworkloadexitstatus',
    workload_exit_status: 'error',
    workload_output: '/nonexistent/prog could not be started: no such file or directory (ENOENT)',
  });
});

test('job run names a program missing from PATH, and one that is not executable', async (t) => {
  const job = await startJob(t);
  const missing = await job.client(['job', 'run', '--', 'no-such-program-xyz']);
  t.deepEqual(
    [missing.code, missing.stderr],
    [127, 'tml-puppet: no-such-program-xyz could not be started: no such program on PATH (ENOENT)\n'],
  );
  const file = path.join(job.dir, 'not-executable');
  writeFileSync(file, 'echo hi\n', { mode: 0o644 });
  const denied = await job.client(['job', 'run', '--', file]);
  t.is(denied.code, 127);
  t.is(denied.stderr, `tml-puppet: ${file} could not be started: permission denied (is it executable?) (EACCES)\n`);
});

test('job run without a command is a usage error', async (t) => {
  const job = await startJob(t);
  const r = await job.client(['job', 'run']);
  t.is(r.code, 2);
  t.is(r.stderr, 'tml-puppet: job run needs a command, e.g. tml-puppet job run -- make test\n');
});

test('an output over the cap is delivered cut to it, with a marker, and the status with it', async (t) => {
  const job = await startJob(t);
  const file = path.join(job.dir, 'huge');
  writeFileSync(file, 'x'.repeat(9 * 1024 * 1024));
  const r = await job.client(['job', 'finish', '--status', 'error', '--output-file', file]);
  t.is(r.code, 0, r.stderr);
  const [declared] = await waitFor('the report', () => {
    const d = job.eventsOf('declareworkloadexitstatus');
    return d.length > 0 ? d : null;
  });
  t.is(declared!.workload_exit_status, 'error');
  const output = declared!.workload_output!;
  t.true(Buffer.byteLength(output) <= MAX_WORKLOAD_OUTPUT_BYTES);
  t.true(output.startsWith('xxxx'));
  t.true(output.endsWith(truncationMarker(9 * 1024 * 1024)));
});

test('the daemon cuts what any local client sends: output and sub-state alike', async (t) => {
  const job = await startJob(t);
  const request = async (req: object) => {
    const socket = net.connect(job.socket);
    socket.end(`${JSON.stringify(req)}\n`);
    return Buffer.concat(await socket.toArray()).toString();
  };
  const substate = 'é'.repeat(100_000);
  t.regex(await request({ op: 'substate', substate }), /"ok":true/);
  t.regex(await request({ op: 'finish', status: 'success', output: 'y'.repeat(2 * 1024 * 1024) }), /"ok":true/);
  const [sub] = await waitFor('the sub-state', () => {
    const s = job.eventsOf('reportsubstate');
    return s.length > 0 ? s : null;
  });
  t.true(Buffer.byteLength(sub!.substate) <= MAX_STATUS_MESSAGE_BYTES);
  t.true(sub!.substate.endsWith(truncationMarker(200_000)));
  const [declared] = await waitFor('the report', () => {
    const d = job.eventsOf('declareworkloadexitstatus');
    return d.length > 0 ? d : null;
  });
  t.true(Buffer.byteLength(declared!.workload_output!) <= MAX_WORKLOAD_OUTPUT_BYTES);
  t.true(declared!.workload_output!.endsWith(truncationMarker(2 * 1024 * 1024)));
});

test('host info describes the OS, CPU, memory, network and USB, tolerating missing sections', async (t) => {
  const r = await run(process.execPath, [CLI_JS, 'host', 'info']);
  t.is(r.code, 0);
  t.regex(r.stdout, /^OS: /m);
  t.regex(r.stdout, /^CPU: /m);
  t.regex(r.stdout, /^Memory: /m);
  t.regex(r.stdout, /^Network interfaces( \(\d+\):|: unavailable)/m);
  t.regex(r.stdout, /^USB devices( \(\d+\):|: unavailable)/m);
});

test('job run passes SIGTERM on to the command and reports unknown', async (t) => {
  const job = await startJob(t);
  const started = path.join(job.dir, 'started');
  const { spawn } = await import('node:child_process');
  const client = spawn(process.execPath, [CLI_JS, 'job', 'run', '--', 'sh', '-c', `touch ${started}; exec sleep 30`], {
    env: { ...process.env, TML_PUPPET_SOCKET: job.socket },
    stdio: 'ignore',
  });
  t.teardown(() => client.kill('SIGKILL'));
  await waitFor('the command to start', () => existsSync(started));
  const exited = new Promise<number | null>((resolve) => client.once('exit', (code) => resolve(code)));
  client.kill('SIGTERM');
  t.is(await exited, 143);
  await waitFor('the report', () => job.eventsOf('declareworkloadexitstatus').length === 1);
  t.like(job.eventsOf('declareworkloadexitstatus')[0], {
    workload_exit_status: 'unknown',
    workload_output: 'sh was killed by SIGTERM',
  });
});
