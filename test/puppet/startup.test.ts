import test from 'ava';
import { once } from 'node:events';
import { chmodSync, existsSync, promises as fs, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { AUTHORIZED_KEYS_HEADER } from '../../puppet/files.js';
import { CLI_JS, HOST_ID, JOB_ID, baseContext, startJob, tempDir, waitFor, run } from './harness.js';
import { ControlSocketServer } from '../../supervisor/control-socket/server.js';

const mode = (file: string) => statSync(file).mode & 0o777;
/** This process's umask, which the daemon inherits (read without changing it). */
const umask = () => parseInt(/^Umask:\s+(\d+)/m.exec(readFileSync('/proc/self/status', 'utf8'))![1]!, 8);

function script(dir: string, name: string, body: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, `#!/bin/sh\n${body}\n`);
  chmodSync(file, 0o755);
  return file;
}

test('start-up writes job info, parameters, SSH keys and runs the network script, then sends ready', async (t) => {
  const dir = tempDir(t);
  const keysFile = path.join(dir, 'home', '.ssh', 'authorized_keys');
  const netEnv = path.join(dir, 'net-env');
  const netScript = script(dir, 'net.sh', `env | grep -E '^(HOSTNAME|INTERFACE|IPV4_|IPV6_)' | sort > ${netEnv}`);
  const context = baseContext();
  context.sshKeys = ['ssh-ed25519 AAAAkey1 alice@laptop', 'ssh-rsa AAAAkey2 bob@ci'];
  context.networkConfig = {
    hostname: 'board-7',
    interface: 'eth0',
    ipv4: { address: '10.0.0.7', prefix_length: 24, gateway: '10.0.0.1', nameservers: ['10.0.0.1', '9.9.9.9'] },
    ipv6: { address: 'fd00::7', prefix_length: 64, gateway: null, nameservers: [] },
  };
  context.parameters = {
    board: { value: 'nrf52840dk', secret: false },
    token: { value: 'TOPSECRET-hunter2', secret: true },
    '../../escape': { value: 'stays inside', secret: false },
    'dots.and/slashes here': { value: 'x', secret: false },
    ['L'.repeat(200)]: { value: 'long', secret: false },
    multiline: { value: 'line 1\nline 2\n\u00e9', secret: false },
  };
  const job = await startJob(t, {
    context,
    daemonArgs: ['--authorized-keys-file', keysFile, '--network-config-script', netScript, '--log-level', 'debug'],
  });

  t.is(await fs.readFile(path.join(job.jobInfoDir, 'job-id'), 'utf8'), JOB_ID);
  t.is(await fs.readFile(path.join(job.jobInfoDir, 'host-id'), 'utf8'), HOST_ID);

  const files = readdirSync(job.paramsDir).sort();
  t.deepEqual(files, ['L'.repeat(128), 'board', 'dotsandslashes here', 'escape', 'multiline', 'token']);
  t.is(await fs.readFile(path.join(job.paramsDir, 'board'), 'utf8'), 'nrf52840dk');
  t.is(await fs.readFile(path.join(job.paramsDir, 'escape'), 'utf8'), 'stays inside');
  t.is(await fs.readFile(path.join(job.paramsDir, 'multiline'), 'utf8'), 'line 1\nline 2\n\u00e9');
  // upstream's mode for secret and plain parameters alike: the image's workload user reads them
  t.is(mode(path.join(job.paramsDir, 'token')), 0o644);
  t.is(mode(path.join(job.paramsDir, 'board')), 0o644);
  t.false(existsSync(path.join(job.dir, 'escape')));

  t.is(
    await fs.readFile(keysFile, 'utf8'),
    `${AUTHORIZED_KEYS_HEADER}ssh-ed25519 AAAAkey1 alice@laptop\nssh-rsa AAAAkey2 bob@ci\n`,
  );
  t.is(mode(keysFile), 0o644 & ~umask(), 'a missing keys file is created as upstream creates it');

  t.is(
    await fs.readFile(netEnv, 'utf8'),
    [
      'HOSTNAME=board-7',
      'INTERFACE=eth0',
      'IPV4_ADDRESS=10.0.0.7',
      'IPV4_GATEWAY=10.0.0.1',
      'IPV4_NAMESERVERS=10.0.0.1|9.9.9.9',
      'IPV4_PREFIX_LENGTH=24',
      'IPV6_ADDRESS=fd00::7',
      'IPV6_NAMESERVERS=',
      'IPV6_PREFIX_LENGTH=64',
      '',
    ].join('\n'),
  );
  t.deepEqual(job.eventsOf('ready'), [{ type: 'ready' }]);
  t.false(job.daemonLog().includes('TOPSECRET'), 'a secret value appeared in the log');
});

test('the local socket is created with mode 0660', async (t) => {
  const job = await startJob(t);
  t.true(statSync(job.socket).isSocket());
  t.is(mode(job.socket), 0o660);
});

test('--socket-group gives the local socket to that group', async (t) => {
  const gid = process.getgid!();
  const job = await startJob(t, { daemonArgs: ['--socket-group', String(gid)] });
  t.is(statSync(job.socket).gid, gid);
  t.is(mode(job.socket), 0o660);
});

test('an unknown --socket-group is a one-line error', async (t) => {
  const job = await startJob(t, { waitReady: false, daemonArgs: ['--socket-group', 'no-such-group-xyz'] });
  // 'close', not 'exit': only then has all of its stderr been read
  const [code] = await once(job.daemon, 'close');
  t.is(code, 1);
  t.is(job.daemonLog(), 'tml-puppet: unknown group "no-such-group-xyz"\n');
});

test('a refreshed parameter set after a reconnect rewrites values and removes parameters gone from it', async (t) => {
  const job = await startJob(t);
  await job.stopServer();
  const context = baseContext();
  context.parameters = { board: { value: 'rpi5', secret: false }, added: { value: 'new', secret: true } };
  await job.startServer(context);
  await waitFor('the refreshed parameters', () => existsSync(path.join(job.paramsDir, 'added')));
  await waitFor('token removal', () => !existsSync(path.join(job.paramsDir, 'token')));
  t.deepEqual(readdirSync(job.paramsDir).sort(), ['added', 'board']);
  t.is(await fs.readFile(path.join(job.paramsDir, 'board'), 'utf8'), 'rpi5');
  t.is(mode(path.join(job.paramsDir, 'added')), 0o644);
  t.is(job.eventsOf('ready').length, 1, 'ready is sent once per daemon, not per connection');
});

test("without a network config of its own the supervisor answers upstream QEMU's, and the script gets that hostname", async (t) => {
  const dir = tempDir(t);
  const record = path.join(dir, 'net-env');
  const netScript = script(dir, 'net.sh', `env | grep -E '^(HOSTNAME|INTERFACE|IPV4_|IPV6_)' > ${record}`);
  const job = await startJob(t, { daemonArgs: ['--network-config-script', netScript] });
  t.deepEqual(job.eventsOf('ready'), [{ type: 'ready' }]);
  t.is(await fs.readFile(record, 'utf8'), `HOSTNAME=job-${JOB_ID.slice(0, 10)}\n`);
});

test('a failing network script stops the daemon with an error (--exit-on-network-config-error is on by default)', async (t) => {
  const dir = tempDir(t);
  const context = baseContext();
  context.networkConfig = { hostname: 'h', interface: null, ipv4: null, ipv6: null };
  const job = await startJob(t, {
    context,
    waitReady: false,
    daemonArgs: ['--network-config-script', script(dir, 'net.sh', 'exit 4')],
  });
  // 'close', not 'exit': only then has all of its stderr been read
  const [code] = await once(job.daemon, 'close');
  t.is(code, 1);
  t.regex(job.daemonLog(), /network config script .* exited with code 4/);
  t.deepEqual(job.eventsOf('ready'), []);
});

test('a failing network script without the exit flag is logged and start-up continues', async (t) => {
  const dir = tempDir(t);
  const context = baseContext();
  context.networkConfig = { hostname: 'h', interface: null, ipv4: null, ipv6: null };
  const job = await startJob(t, {
    context,
    daemonArgs: ['--network-config-script', script(dir, 'net.sh', 'exit 4'), '--no-exit-on-network-config-error'],
  });
  t.deepEqual(job.eventsOf('ready'), [{ type: 'ready' }]);
  t.regex(job.daemonLog(), /error +network config script/);
});

test('auto_discover reads the control socket address from the fw_cfg file', async (t) => {
  const dir = tempDir(t);
  const server = await ControlSocketServer.listen({ context: baseContext() });
  t.teardown(() => server.close());
  const fwcfg = path.join(dir, 'raw');
  writeFileSync(fwcfg, `127.0.0.1:${server.port}`);
  const ready = once(server, 'ready');
  const { spawn } = await import('node:child_process');
  const daemon = spawn(
    process.execPath,
    [
      CLI_JS,
      'daemon',
      '--transport',
      'auto_discover',
      '--fw-cfg-path',
      fwcfg,
      '--socket',
      path.join(dir, 's.sock'),
      '--dbus-bus',
      'none',
    ],
    { stdio: 'ignore' },
  );
  t.teardown(() => daemon.kill('SIGKILL'));
  await ready;
  t.pass();
});

test('under systemd the daemon signals READY=1 through systemd-notify after sending ready', async (t) => {
  const dir = tempDir(t);
  const record = path.join(dir, 'notify-args');
  // a stand-in for systemd-notify that records how it was called
  script(dir, 'systemd-notify', `echo "$NOTIFY_SOCKET $*" > ${record}`);
  const job = await startJob(t, {
    env: { NOTIFY_SOCKET: '/run/systemd/notify', PATH: `${dir}:${process.env['PATH']}` },
  });
  const line = await waitFor('systemd-notify to run', async () =>
    existsSync(record) ? fs.readFile(record, 'utf8') : '',
  );
  t.is(line.trim(), `/run/systemd/notify --ready --pid=${job.daemon.pid}`);
});

for (const [name, value] of [
  ['without NOTIFY_SOCKET', undefined],
  ['with an empty NOTIFY_SOCKET', ''],
] as const) {
  test(`${name} systemd-notify is not run`, async (t) => {
    const dir = tempDir(t);
    const record = path.join(dir, 'notify-args');
    script(dir, 'systemd-notify', `touch ${record}`);
    const job = await startJob(t, {
      env: { PATH: `${dir}:${process.env['PATH']}`, NOTIFY_SOCKET: value },
      daemonArgs: ['--log-level', 'debug'],
    });
    // The daemon logs this once it is past the point where it would have run systemd-notify.
    await waitFor('the daemon to pass its readiness step', () =>
      /readiness not signalled|signalled readiness/.test(job.daemonLog()),
    );
    t.false(existsSync(record));
  });
}

test('an unusable control socket address is a one-line error', async (t) => {
  const dir = tempDir(t);
  const r = await run(process.execPath, [
    CLI_JS,
    'daemon',
    '--transport',
    'tcp',
    '--tcp-control-socket-addr',
    'nonsense',
    '--socket',
    path.join(dir, 's'),
  ]);
  t.is(r.code, 1);
  t.is(r.stderr, 'tml-puppet: invalid socket address "nonsense" (expected IP:PORT)\n');
});

test('a second daemon on the same local socket refuses to start', async (t) => {
  const job = await startJob(t);
  const r = await run(process.execPath, [
    CLI_JS,
    'daemon',
    '--tcp-control-socket-addr',
    `127.0.0.1:${job.server.port}`,
    '--socket',
    job.socket,
  ]);
  t.is(r.code, 1);
  t.regex(r.stderr, /^tml-puppet: another daemon is already listening on .*\n$/);
});

test('auto_discover without the fw_cfg file is a one-line error', async (t) => {
  const dir = tempDir(t);
  const missing = path.join(dir, 'no-such-raw');
  const r = await run(process.execPath, [
    CLI_JS,
    'daemon',
    '--transport',
    'auto_discover',
    '--fw-cfg-path',
    missing,
    '--socket',
    path.join(dir, 's'),
  ]);
  t.is(r.code, 1);
  t.is(r.stderr, `tml-puppet: auto_discover: cannot read ${missing}: ENOENT\n`);
});

test('--transport tcp without an address is a one-line error', async (t) => {
  const dir = tempDir(t);
  const r = await run(process.execPath, [CLI_JS, 'daemon', '--transport', 'tcp', '--socket', path.join(dir, 's')]);
  t.is(r.code, 1);
  t.is(r.stderr, 'tml-puppet: --transport tcp needs --tcp-control-socket-addr IP:PORT\n');
});

test('an invalid daemon flag value is a one-line error naming the choices', async (t) => {
  const dir = tempDir(t);
  const r = await run(process.execPath, [CLI_JS, 'daemon', '--transport', 'udp', '--socket', path.join(dir, 's')]);
  t.is(r.code, 2);
  t.is(
    r.stderr,
    'tml-puppet: Invalid values: Argument: transport, Given: "udp", Choices: "tcp", "auto_discover" (see tml-puppet --help)\n',
  );
});
