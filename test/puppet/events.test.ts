// Every supervisor event, handled by a real daemon.
import test from 'ava';
import { once } from 'node:events';
import { chmodSync, existsSync, promises as fs, writeFileSync } from 'node:fs';
import path from 'node:path';
import { AUTHORIZED_KEYS_HEADER } from '../../puppet/files.js';
import { baseContext, startJob, tempDir, waitFor } from './harness.js';

function script(dir: string, name: string, body: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, `#!/bin/sh\n${body}\n`);
  chmodSync(file, 0o755);
  return file;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('runcommand streams stdout and stderr and reports the exit code', async (t) => {
  const job = await startJob(t);
  const cmd = script(job.dir, 'cmd.sh', 'echo "out $GREETING"; echo err >&2; read x; echo "stdin:[$x]"; exit 3');
  const run = job.server.runCommand(cmd, [['GREETING', 'hello wörld']]);
  const out: Record<string, string> = { stdout: '', stderr: '' };
  run.on('output', (chunk: Buffer, stream: 'stdout' | 'stderr') => (out[stream] += chunk.toString('utf8')));
  const [code, killed] = await once(run, 'exit');
  t.is(code, 3);
  t.false(killed);
  t.is(out['stdout'], 'out hello wörld\nstdin:[]\n');
  t.is(out['stderr'], 'err\n');
});

test('runcommand runs the program without a shell or arguments, found on PATH', async (t) => {
  const job = await startJob(t);
  const pwd = job.server.runCommand('pwd');
  const chunks: Buffer[] = [];
  pwd.on('output', (c: Buffer) => chunks.push(c));
  t.deepEqual(await once(pwd, 'exit'), [0, false]);
  t.true(Buffer.concat(chunks).toString().startsWith('/'));
  // with a shell, this would run `echo`; upstream treats the whole cmdline as the program name
  const notAShell = job.server.runCommand('echo hi');
  t.regex(String((await once(notAShell, 'error'))[0]), /ENOENT/);
});

test('a command that cannot start ends with runcommanderror', async (t) => {
  const job = await startJob(t);
  const run = job.server.runCommand('/nonexistent/program');
  const [message] = await once(run, 'error');
  t.regex(String(message), /ENOENT/);
  t.deepEqual(job.eventsOf('runcommandexitcode'), []);
});

test('killcommand kills the whole process group and reports killed: true', async (t) => {
  const job = await startJob(t);
  const pids = path.join(job.dir, 'pids');
  const cmd = script(job.dir, 'tree.sh', `sleep 1000 & echo $! > ${pids}; echo started; wait`);
  const run = job.server.runCommand(cmd);
  await once(run, 'output');
  const grandchild = Number((await fs.readFile(pids, 'utf8')).trim());
  t.true(alive(grandchild));
  const exited = once(run, 'exit');
  run.kill();
  t.deepEqual(await exited, [null, true]);
  await waitFor('the background sleep to die', () => !alive(grandchild));
  t.pass();
});

test('several commands run at once and each reports under its own id', async (t) => {
  const job = await startJob(t);
  const gate = path.join(job.dir, 'gate');
  const slow = job.server.runCommand(script(job.dir, 'slow.sh', `while [ ! -e ${gate} ]; do sleep 0.05; done; exit 5`));
  const fast = job.server.runCommand(script(job.dir, 'fast.sh', `touch ${gate}; exit 6`));
  const [slowExit, fastExit] = await Promise.all([once(slow, 'exit'), once(fast, 'exit')]);
  t.deepEqual(slowExit, [5, false]);
  t.deepEqual(fastExit, [6, false]);
});

test('shutdownreq is acknowledged with shutdown, then the shutdown command runs', async (t) => {
  const job = await startJob(t);
  const id = job.server.sendEvent({ type: 'shutdownreq' });
  await waitFor('shutdown event', () => job.eventsOf('shutdown').length > 0);
  t.deepEqual(job.eventsOf('shutdown'), [{ type: 'shutdown', supervisor_event_id: id }]);
  await waitFor('the shutdown command', () => existsSync(path.join(job.dir, 'shutdown-ran')));
  t.false(existsSync(path.join(job.dir, 'reboot-ran')));
});

test('rebootreq is acknowledged with reboot, then the reboot command runs', async (t) => {
  const job = await startJob(t);
  const id = job.server.sendEvent({ type: 'rebootreq' });
  await waitFor('reboot event', () => job.eventsOf('reboot').length > 0);
  t.deepEqual(job.eventsOf('reboot'), [{ type: 'reboot', supervisor_event_id: id }]);
  await waitFor('the reboot command', () => existsSync(path.join(job.dir, 'reboot-ran')));
});

test('sshkeysupdated makes the daemon fetch the keys again and rewrite the file', async (t) => {
  const dir = tempDir(t);
  const keysFile = path.join(dir, 'authorized_keys');
  const job = await startJob(t, { daemonArgs: ['--authorized-keys-file', keysFile] });
  t.is(await fs.readFile(keysFile, 'utf8'), `${AUTHORIZED_KEYS_HEADER}ssh-ed25519 AAAAkey1 alice@laptop\n`);
  job.server.updateContext({ sshKeys: ['ssh-ed25519 AAAAnew carol@desk'] });
  job.server.sendEvent({ type: 'sshkeysupdated' });
  const expected = `${AUTHORIZED_KEYS_HEADER}ssh-ed25519 AAAAnew carol@desk\n`;
  await waitFor('the rewritten keys', async () => (await fs.readFile(keysFile, 'utf8')) === expected);
  t.pass();
});

test('sshkeysupdated without a keys file is logged and ignored', async (t) => {
  const job = await startJob(t, { context: baseContext() });
  job.server.sendEvent({ type: 'sshkeysupdated' });
  const run = job.server.runCommand('true');
  t.deepEqual(await once(run, 'exit'), [0, false]);
  t.regex(job.daemonLog(), /no --authorized-keys-file/);
});

test('killcommand for an unknown command is logged and the daemon carries on', async (t) => {
  const job = await startJob(t);
  job.server.sendEvent({ type: 'killcommand', supervisor_event_id: 999 });
  const run = job.server.runCommand('true');
  t.deepEqual(await once(run, 'exit'), [0, false]);
  t.regex(job.daemonLog(), /killcommand for unknown or finished command 999/);
});

test("a command's output and exit code produced while disconnected are delivered after reconnecting", async (t) => {
  const job = await startJob(t);
  const gate = path.join(job.dir, 'gate');
  const started = path.join(job.dir, 'started');
  const run = job.server.runCommand(
    script(job.dir, 'late.sh', `touch ${started}; while [ ! -e ${gate} ]; do sleep 0.05; done; echo done-late; exit 7`),
  );
  await waitFor('the command to start', () => existsSync(started));
  await job.stopServer();
  await waitFor('the daemon to notice', () => /lost connection to supervisor/.test(job.daemonLog()));
  writeFileSync(gate, '');
  await waitFor('the command to end', () => /command 0: exited with code 7/.test(job.daemonLog()));
  await job.startServer();
  await waitFor('the exit code', () => job.eventsOf('runcommandexitcode').length === 1);
  t.deepEqual(job.eventsOf('runcommandexitcode'), [
    { type: 'runcommandexitcode', supervisor_event_id: run.eventId, exit_code: 7, killed: false },
  ]);
  const output = job
    .eventsOf('runcommandoutput')
    .map((e) => Buffer.from(e.output).toString())
    .join('');
  t.is(output, 'done-late\n');
});
