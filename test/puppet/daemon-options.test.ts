// The daemon's flags: the fast parser beside the yargs table, and the values it checks.
import test from 'ava';
import fc from 'fast-check';
import { parseDaemonArgs, parseFileMode, parseSeconds } from '../../puppet/daemon-options.js';

test('daemon flags: the fast parser applies the same defaults as the yargs table', (t) => {
  const a = parseDaemonArgs([
    '--tcp-control-socket-addr',
    '10.0.0.1:5',
    '--exit-on-network-config-error',
    '--socket=/x.sock',
  ]);
  t.deepEqual(a, {
    transport: undefined,
    'tcp-control-socket-addr': '10.0.0.1:5',
    'fw-cfg-path': '/sys/firmware/qemu_fw_cfg/by_name/opt/org.tockos.treadmill.tcp-ctrl-socket/raw',
    'parameters-dir': undefined,
    'job-info-dir': undefined,
    'authorized-keys-file': undefined,
    'exit-on-authorized-keys-update-error': true,
    'network-config-script': undefined,
    'exit-on-network-config-error': true,
    'request-timeout': '10',
    'secret-parameters-group': undefined,
    'secret-parameters-mode': '0644',
    'dbus-bus': 'system',
    socket: '/x.sock',
    'socket-group': undefined,
    'shutdown-command': 'systemctl poweroff',
    'reboot-command': 'systemctl reboot',
    'log-level': 'info',
    'log-format': 'text',
  });
});

test("daemon flags: published images' command line, -t and the --no- spellings take the fast path", (t) => {
  // the VM images' unit, word for word
  const vm = parseDaemonArgs(
    '--transport auto_discover --authorized-keys-file /home/tml/.ssh/authorized_keys --exit-on-authorized-keys-update-error --job-info-dir /run/tml --parameters-dir /run/tml/parameters'.split(
      ' ',
    ),
  );
  t.like(vm, {
    transport: 'auto_discover',
    'authorized-keys-file': '/home/tml/.ssh/authorized_keys',
    'exit-on-authorized-keys-update-error': true,
    'exit-on-network-config-error': true,
  });
  const short = parseDaemonArgs([
    '-t',
    'tcp',
    '--tcp-control-socket-addr',
    '10.0.0.1:3859',
    '--no-exit-on-authorized-keys-update-error',
    '--no-exit-on-network-config-error',
  ]);
  t.like(short, {
    transport: 'tcp',
    'exit-on-authorized-keys-update-error': false,
    'exit-on-network-config-error': false,
  });
});

test('daemon flags: the fast parser returns flags or null for any argument list, never throws', (t) => {
  const word = fc.oneof(
    fc.constantFrom('-t', '--transport', 'tcp', '--no-socket', '--socket', '--exit-on-network-config-error', '--'),
    fc.constantFrom('--no-exit-on-network-config-error', '--request-timeout', '--secret-parameters-mode', '-x'),
    fc.string({ maxLength: 12 }),
  );
  fc.assert(
    fc.property(fc.array(word, { maxLength: 8 }), (args) => {
      const r = parseDaemonArgs(args);
      return r === null || (typeof r === 'object' && typeof r['exit-on-network-config-error'] === 'boolean');
    }),
  );
  t.pass();
});

test('daemon flags: anything unusual is left to yargs', (t) => {
  for (const args of [
    ['--help'],
    ['--bogus'],
    ['--transport', 'udp'],
    ['--log-level', 'loud'],
    ['--socket', 'a', '--socket', 'b'],
    ['-t', 'tcp', '--transport', 'tcp'],
    ['--exit-on-network-config-error', '--no-exit-on-network-config-error'],
    ['--no-socket'],
    ['stray-positional'],
  ]) {
    t.is(parseDaemonArgs(args), null, args.join(' '));
  }
});

test('--secret-parameters-mode takes octal permission bits and refuses anything else with one line', (t) => {
  t.is(parseFileMode('0640'), 0o640);
  t.is(parseFileMode('600'), 0o600);
  fc.assert(
    fc.property(fc.string({ maxLength: 8 }), (text) => {
      try {
        const m = parseFileMode(text);
        return m >= 0 && m <= 0o777;
      } catch (e) {
        return /^--secret-parameters-mode must be octal permission bits/.test((e as Error).message);
      }
    }),
  );
  for (const bad of ['', '0o640', '888', '07777', 'rw-r-----', '-1']) t.throws(() => parseFileMode(bad));
});

test('--request-timeout takes seconds above 0 up to an hour and refuses anything else with one line', (t) => {
  t.is(parseSeconds('request-timeout', '0.5'), 0.5);
  t.is(parseSeconds('request-timeout', '10'), 10);
  fc.assert(
    fc.property(fc.string({ maxLength: 8 }), (text) => {
      try {
        const s = parseSeconds('request-timeout', text);
        return s > 0 && s <= 3600;
      } catch (e) {
        return /^--request-timeout must be a number of seconds/.test((e as Error).message);
      }
    }),
  );
  for (const bad of ['', '0', '-1', '1e3', 'NaN', '3601', ' 5']) t.throws(() => parseSeconds('request-timeout', bad));
});
