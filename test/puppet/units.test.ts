// Pure pieces of the puppet, without sockets or child processes.
import test from 'ava';
import fc from 'fast-check';
import { readdirSync, statSync } from 'node:fs';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { parseSocketAddress } from '../../puppet/connection.js';
import { parseDaemonArgs, parseFileMode, parseSeconds } from '../../puppet/daemon-options.js';
import {
  ParameterFiles,
  acceptableSshKeys,
  authorizedKeysContent,
  sanitizeParameterName,
  writeFileAtomicSync,
} from '../../puppet/files.js';
import { outcomeOf } from '../../puppet/job-run.js';
import { parseLocalRequest, parseLocalResponse } from '../../puppet/local-protocol.js';
import { ValidationError, attempt } from '../../protocol/validation.js';
import { resolveGroup } from '../../puppet/local-socket.js';
import { networkConfigProblem, networkEnvironment, type NetworkConfigResp } from '../../puppet/network.js';
import { tempDir } from './harness.js';

test('parameter names keep only ASCII alphanumerics, space, - and _', (t) => {
  t.is(sanitizeParameterName('../../etc/passwd'), 'etcpasswd');
  t.is(sanitizeParameterName('my param-1_x'), 'my param-1_x');
  t.is(sanitizeParameterName('ünïcødé.txt'), 'ncdtxt');
  t.is(sanitizeParameterName('...'), '');
});

test('sanitized parameter names never contain a path separator or dot and are at most 128 chars', (t) => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (name) => {
      const s = sanitizeParameterName(name);
      return s.length <= 128 && /^[A-Za-z0-9 _-]*$/.test(s);
    }),
  );
  t.is(sanitizeParameterName('a'.repeat(300)).length, 128);
});

test('atomic writes leave no temporary file and set the exact mode despite the umask', async (t) => {
  const dir = tempDir(t);
  const old = process.umask(0o077);
  try {
    writeFileAtomicSync(path.join(dir, 'f'), 'v', { mode: 0o644 });
  } finally {
    process.umask(old);
  }
  t.deepEqual(readdirSync(dir), ['f']);
  t.is(statSync(path.join(dir, 'f')).mode & 0o777, 0o644);
});

test('parameter files: a rewrite in the same run removes only names this instance wrote before', async (t) => {
  const dir = tempDir(t);
  const files = new ParameterFiles(dir);
  await files.write({ a: { value: '1', secret: false }, b: { value: '2', secret: true } });
  await fs.writeFile(path.join(dir, 'unrelated'), 'keep me');
  const r = await files.write({ a: { value: '3', secret: false } });
  t.deepEqual(r.removed, ['b']);
  t.deepEqual(readdirSync(dir).sort(), ['a', 'unrelated']);
  t.is(await fs.readFile(path.join(dir, 'a'), 'utf8'), '3');
});

test('parameter files: the first write of a run removes files an earlier run left and replaces those in the set', async (t) => {
  const dir = tempDir(t);
  await fs.writeFile(path.join(dir, 'stale'), 'from an earlier run');
  await fs.writeFile(path.join(dir, '.board.1234.0.tmp'), 'temporary of a crashed write');
  await fs.writeFile(path.join(dir, 'board'), 'old value');
  const r = await new ParameterFiles(dir).write({ board: { value: 'nrf52840dk', secret: false } });
  t.deepEqual(r.removed.sort(), ['.board.1234.0.tmp', 'stale']);
  t.deepEqual(readdirSync(dir), ['board']);
  t.is(await fs.readFile(path.join(dir, 'board'), 'utf8'), 'nrf52840dk');
});

test('parameter files: the start-up sweep leaves directories and symbolic links, and what links point to, alone', async (t) => {
  const dir = tempDir(t);
  const outside = tempDir(t);
  await fs.writeFile(path.join(outside, 'precious'), 'not a parameter');
  await fs.symlink(path.join(outside, 'precious'), path.join(dir, 'link'));
  await fs.symlink(outside, path.join(dir, 'linkdir'));
  await fs.mkdir(path.join(dir, 'subdir'));
  await fs.writeFile(path.join(dir, 'subdir', 'inner'), 'x');
  const r = await new ParameterFiles(dir).write({ a: { value: '1', secret: false } });
  t.deepEqual(r.removed, []);
  t.deepEqual(readdirSync(dir).sort(), ['a', 'link', 'linkdir', 'subdir']);
  t.deepEqual(readdirSync(path.join(dir, 'subdir')), ['inner']);
  t.is(await fs.readFile(path.join(outside, 'precious'), 'utf8'), 'not a parameter');
});

test('parameter files: names that sanitize to nothing are skipped, collisions reported', async (t) => {
  const dir = tempDir(t);
  const r = await new ParameterFiles(dir).write({
    '...': { value: 'x', secret: false },
    'a.b': { value: 'first', secret: false },
    ab: { value: 'second', secret: false },
  });
  t.deepEqual(r.skipped, ['...']);
  t.is(r.collisions.length, 1);
  t.deepEqual(readdirSync(dir), ['ab']);
});

test("authorized_keys: upstream's three-line header, keys joined by newlines, final newline", (t) => {
  t.is(
    authorizedKeysContent(['k1', 'k2']),
    '# WARNING: this file is managed by tml-puppet and may be overwritten.\n' +
      '# Please add your own SSH keys to an alternative authorized_keys file\n' +
      '# (such as ~/.ssh/authorized_keys2)\n' +
      'k1\nk2\n',
  );
});

test('job run outcome: 0 is success, other codes are errors, signals are unknown with 128+N', (t) => {
  t.deepEqual(outcomeOf('make', 0, null), { status: 'success', exitCode: 0, summary: 'make exited with code 0' });
  t.deepEqual(outcomeOf('make', 2, null), { status: 'error', exitCode: 2, summary: 'make exited with code 2' });
  t.deepEqual(outcomeOf('make', null, 'SIGKILL'), {
    status: 'unknown',
    exitCode: 137,
    summary: 'make was killed by SIGKILL',
  });
  t.is(outcomeOf('make', null, 'SIGINT').exitCode, 130);
});

test('network script environment: only present values, nameservers joined by |', (t) => {
  t.deepEqual(
    networkEnvironment({
      type: 'networkconfig',
      hostname: 'h',
      interface: null,
      ipv4: { address: '10.0.0.2', prefix_length: 8, gateway: null, nameservers: ['a', 'b'] },
      ipv6: null,
    }),
    { HOSTNAME: 'h', IPV4_ADDRESS: '10.0.0.2', IPV4_PREFIX_LENGTH: '8', IPV4_NAMESERVERS: 'a|b' },
  );
});

test('control socket addresses: IPv4, host names and bracketed IPv6; garbage is an error', (t) => {
  t.deepEqual(parseSocketAddress('10.0.2.2:4000'), { host: '10.0.2.2', port: 4000 });
  t.deepEqual(parseSocketAddress('[fd00::1]:22\n'), { host: 'fd00::1', port: 22 });
  t.deepEqual(parseSocketAddress('supervisor:1'), { host: 'supervisor', port: 1 });
  for (const bad of ['', '10.0.0.1', '10.0.0.1:0', '10.0.0.1:70000', ':5']) t.throws(() => parseSocketAddress(bad));
});

test('local requests are validated; unknown ops and bad fields are errors', (t) => {
  t.deepEqual(parseLocalRequest('{"op":"finish","status":"error","output":"x","terminate":true}'), {
    op: 'finish',
    status: 'error',
    output: 'x',
    terminate: true,
  });
  t.throws(() => parseLocalRequest('{"op":"finish","status":"bad"}'), {
    instanceOf: ValidationError,
    message: 'status must be one of success, error, unknown',
  });
  t.throws(() => parseLocalRequest('{"op":"reboot"}'), { instanceOf: ValidationError, message: 'unknown op "reboot"' });
  t.throws(() => parseLocalRequest('not json'), { instanceOf: ValidationError, message: 'request is not valid JSON' });
  t.throws(() => parseLocalRequest('{"op":"substate","substate":5}'), {
    instanceOf: ValidationError,
    message: 'substate must be a string',
  });
});

test('socket groups resolve by name or number from the group file', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'group');
  await fs.writeFile(file, 'root:x:0:\ntml:x:4242:alice,bob\n');
  t.is(resolveGroup('tml', file), 4242);
  t.is(resolveGroup('17', file), 17);
  t.throws(() => resolveGroup('nobody-here', file), { message: 'unknown group "nobody-here"' });
});

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

test('SSH keys: any key set yields only keys without line breaks or NULs, in order, and the indexes left out', (t) => {
  fc.assert(
    fc.property(fc.array(fc.string({ unit: 'binary', maxLength: 40 }), { maxLength: 10 }), (keys) => {
      const r = acceptableSshKeys(keys);
      const lines = authorizedKeysContent(r.keys).split('\n');
      // the header's three lines, one line per accepted key, and the final newline: nothing more
      return (
        r.keys.every((k) => !/[\r\n\0]/.test(k)) &&
        r.keys.length + r.refused.length === keys.length &&
        r.refused.every((i) => /[\r\n\0]/.test(keys[i]!)) &&
        lines.length === 3 + Math.max(r.keys.length, 1) + 1
      );
    }),
  );
  t.deepEqual(acceptableSshKeys(['a', 'b\nc', 'd']), { keys: ['a', 'd'], refused: [1] });
});

test('network config: a NUL anywhere is named, any other config is fine, and the check never throws', (t) => {
  const text = fc.string({ unit: 'binary', maxLength: 12 });
  const ip = fc.option(
    fc.record({
      address: text,
      prefix_length: fc.integer({ min: 0, max: 255 }),
      gateway: fc.option(text),
      nameservers: fc.array(text, { maxLength: 3 }),
    }),
  );
  const config = fc.record({
    type: fc.constant('networkconfig' as const),
    hostname: text,
    interface: fc.option(text),
    ipv4: ip,
    ipv6: ip,
  });
  fc.assert(
    fc.property(config, (c: NetworkConfigResp) => {
      const problem = networkConfigProblem(c);
      const hasNul = Object.values(networkEnvironment(c)).some((v) => v.includes('\0'));
      return hasNul ? typeof problem === 'string' && /NUL byte in [A-Z0-9_]+$/.test(problem) : problem === null;
    }),
  );
  t.pass();
});

test('local requests and responses: any line gives a request, an error text or a response, never an exception', (t) => {
  const line = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 60 }),
    fc.json(),
    fc
      .record({
        op: fc.constantFrom('ping', 'finish', 'substate', 'terminate', 'jobinfo', 'constructor', '__proto__'),
        status: fc.oneof(fc.constantFrom('success', 'error', 'unknown'), fc.json()),
        output: fc.oneof(fc.string(), fc.json()),
        substate: fc.oneof(fc.string(), fc.json()),
        ok: fc.boolean(),
        error: fc.json(),
        reports: fc.oneof(fc.boolean(), fc.constant(null), fc.json()),
        unsupported: fc.json(),
      })
      .map((o) => JSON.stringify(o)),
  );
  fc.assert(
    fc.property(line, (l) => {
      // attempt() lets anything but a ValidationError through, which fails the property.
      const req = attempt(() => parseLocalRequest(l));
      const resp = attempt(() => parseLocalResponse(l));
      return (!req.ok || typeof req.value.op === 'string') && (!resp.ok || typeof resp.value.ok === 'boolean');
    }),
  );
  t.like(parseLocalResponse('{"ok":false,"error":"x","unsupported":true}'), { ok: false, unsupported: true });
  t.like(parseLocalResponse('{"ok":true,"reports":false}'), { ok: true, reports: false });
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
