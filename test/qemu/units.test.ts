// The qemu host's pure parts, without QEMU: config, command-line templates, start script output,
// qemu-img and QMP parsing, the chain check over fake files, and crash-leftover cleanup.

import test from 'ava';
import fc from 'fast-check';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Manifest } from '../../imagetool/index.js';
import { ValidationError } from '../../protocol/validation.js';
import { removeLeftoverJobDirs } from '../../supervisor/hosts/qemu/backend.js';
import {
  ChainError,
  checkChain,
  directBoot,
  parseQemuImgInfo,
  QEMU_LAYERED_ATTR as A,
  type Qcow2Info,
} from '../../supervisor/hosts/qemu/chain.js';
import {
  defaultQemuArgs,
  parseStartScriptOutput,
  renderArgs,
  renderTemplate,
  sshForwardPort,
  TemplateError,
} from '../../supervisor/hosts/qemu/command-line.js';
import { defaultQemuConfig, parseQemuConfig } from '../../supervisor/hosts/qemu/config.js';
import { qemuTableFromToml } from '../../supervisor/hosts/qemu/flags.js';
import { LineSplitter, parseQmpLine } from '../../supervisor/hosts/qemu/qmp.js';

// --- config ---------------------------------------------------------------------------------

test('an empty [qemu] table gives the Debian defaults', (t) => {
  const c = parseQemuConfig({}, { XDG_STATE_HOME: '/state' });
  t.like(c, {
    qemuBinary: 'qemu-system-x86_64',
    qemuImgBinary: 'qemu-img',
    stateDir: '/state/tml-supervisor/qemu',
    qemuArgs: null,
    tcpControlSocketListenAddr: { host: '127.0.0.1', port: 0 },
    accel: 'auto',
    firmwareCode: '/usr/share/OVMF/OVMF_CODE_4M.fd',
    sshForward: true,
  });
});

test("upstream's example [qemu] table parses with its own values", (t) => {
  const table = qemuTableFromToml(
    `[base]\nsupervisor_id = "x"\n[qemu]\nqemu_binary = "qemu-kvm"\nqemu_img_binary = "qemu-img"\nstate_dir = "./state"\n` +
      `qemu_args = ["-name", "tml-{job_id}", "-drive", "file={main_disk_image},if=none"]\n` +
      `tcp_control_socket_listen_addr = "0.0.0.0:3859"\nworking_disk_max_bytes = 34359738368\nstart_script = "./start.sh"\n`,
    'config.toml',
  );
  t.like(parseQemuConfig(table), {
    qemuBinary: 'qemu-kvm',
    stateDir: './state',
    qemuArgs: ['-name', 'tml-{job_id}', '-drive', 'file={main_disk_image},if=none'],
    tcpControlSocketListenAddr: { host: '0.0.0.0', port: 3859 },
    workingDiskMaxBytes: 34359738368,
    startScript: './start.sh',
  });
});

test('an IPv6 control socket address is written in brackets', (t) => {
  t.deepEqual(parseQemuConfig({ tcp_control_socket_listen_addr: '[::1]:3859' }).tcpControlSocketListenAddr, {
    host: '::1',
    port: 3859,
  });
});

for (const [table, message] of [
  [{ qemu_bniary: 'x' }, /unknown field "qemu_bniary"/],
  [{ qemu_args: 'not a list' }, /qemu_args must be an array/],
  [{ qemu_args: ['-m', 4] }, /qemu_args\[1\] must be a string/],
  [{ working_disk_max_bytes: -1 }, /working_disk_max_bytes must be an integer/],
  [{ tcp_control_socket_listen_addr: 'localhost' }, /HOST:PORT/],
  [{ tcp_control_socket_listen_addr: '1.2.3.4:99999' }, /HOST:PORT/],
  [{ accel: 'hvf' }, /accel must be auto, kvm or tcg/],
  [{ ssh_forward: 'yes' }, /ssh_forward must be true or false/],
  [{ state_dir: '' }, /state_dir must not be empty/],
] as const) {
  test(`a bad [qemu] table is refused naming the key: ${JSON.stringify(table)}`, (t) => {
    t.throws(() => parseQemuConfig(table), { instanceOf: ValidationError, message });
  });
}

test('invalid TOML is one error naming the file', (t) => {
  t.throws(() => qemuTableFromToml('[qemu\nx=', 'bad.toml'), {
    instanceOf: ValidationError,
    message: /^bad\.toml: not valid TOML/,
  });
});

test('any [qemu] value gives a config or a ValidationError, never another exception', (t) => {
  fc.assert(
    fc.property(
      fc.dictionary(
        fc.constantFrom('qemu_binary', 'qemu_args', 'cpus', 'accel', 'tcp_control_socket_listen_addr', 'other'),
        fc.anything(),
      ),
      (table) => {
        try {
          parseQemuConfig(table);
        } catch (err) {
          if (!(err instanceof ValidationError)) throw err;
        }
      },
    ),
  );
  t.pass();
});

// --- command line ---------------------------------------------------------------------------

test('templates fill variables and keep doubled braces literal', (t) => {
  t.is(renderTemplate('file={job_workdir}/x,{{json}}', { job_workdir: '/w' }), 'file=/w/x,{json}');
});

test('an unknown template variable is an error that lists the known ones', (t) => {
  t.throws(() => renderArgs(['-m', '{memory}'], { job_id: 'j' }), {
    instanceOf: TemplateError,
    message: 'qemu_args[1]: unknown variable {memory} (known: job_id)',
  });
});

test('unbalanced braces are template errors', (t) => {
  t.throws(() => renderTemplate('a{b', {}), { instanceOf: TemplateError });
  t.throws(() => renderTemplate('a}b', {}), { instanceOf: TemplateError });
});

test('any template renders or fails with a TemplateError', (t) => {
  fc.assert(
    fc.property(fc.string(), (s) => {
      try {
        renderTemplate(s, { a: 'x' });
      } catch (err) {
        if (!(err instanceof TemplateError)) throw err;
      }
    }),
  );
  t.pass();
});

test('the start script sets variables with tml-set-variable lines; later ones win, bad ones are reported', (t) => {
  const out = parseStartScriptOutput(
    'noise\ntml-set-variable:usb_hostbus=3\ntml-set-variable:usb_hostbus=4\ntml-set-variable:x=a=b\ntml-set-variable:bad key=1\n',
  );
  t.deepEqual(out.vars, { usb_hostbus: '4', x: 'a=b' });
  t.deepEqual(out.malformed, ['tml-set-variable:bad key=1']);
});

test('the default command line boots UEFI with a per-job variables file, or the kernel directly', (t) => {
  const uefi = defaultQemuArgs({ boot: 'uefi', sshForward: true });
  t.true(uefi.includes('if=pflash,format=raw,file={job_workdir}/OVMF_VARS.fd'));
  t.true(uefi.includes('name=opt/org.tockos.treadmill.tcp-ctrl-socket,string={guest_control_socket_addr}'));
  t.true(uefi.includes('user,id=net0,hostfwd=tcp:{ssh_host}:0-:22'));
  const direct = defaultQemuArgs({ boot: 'direct', sshForward: false });
  t.false(direct.some((a) => a.includes('pflash')));
  t.true(direct.includes('{kernel}'));
  t.true(direct.includes('user,id=net0'));
  // Every variable the backend provides is enough to render both.
  const vars = Object.fromEntries(
    [
      'job_id',
      'job_workdir',
      'main_disk_image',
      'firmware_code',
      'ssh_host',
      'cpus',
      'memory_mib',
      'accel',
      'cpu',
      'guest_control_socket_addr',
      'kernel',
      'initrd',
      'kernel_cmdline',
    ].map((k) => [k, k]),
  );
  t.notThrows(() => renderArgs(uefi, vars));
  t.notThrows(() => renderArgs(direct, vars));
});

test("the SSH forward's host port is read from QMP's info usernet", (t) => {
  const info =
    'Hub -1 (net0):\r\n  Protocol[State]    FD  Source Address  Port   Dest. Address  Port RecvQ SendQ\r\n' +
    '  TCP[HOST_FORWARD]   9       127.0.0.1 41979       10.0.2.15    22     0     0\r\n';
  t.is(sshForwardPort(info), 41979);
  t.is(sshForwardPort('Hub -1 (net0):\r\n'), null);
});

// --- QMP ------------------------------------------------------------------------------------

test('QMP lines are told apart: greeting, reply, error, event', (t) => {
  t.deepEqual(parseQmpLine('{"QMP": {"version": {}}}'), { kind: 'greeting' });
  t.deepEqual(parseQmpLine('{"return": {}, "id": 3}'), { kind: 'return', id: 3, value: {} });
  t.deepEqual(parseQmpLine('{"error": {"class": "X", "desc": "nope"}, "id": 1}'), {
    kind: 'error',
    id: 1,
    message: 'nope',
  });
  t.deepEqual(parseQmpLine('{"event": "RESET", "data": {"guest": true}}'), {
    kind: 'event',
    event: { event: 'RESET', data: { guest: true } },
  });
  t.like(parseQmpLine('[1]'), { kind: 'invalid' });
});

test('any QMP line parses to a message or an invalid one', (t) => {
  fc.assert(fc.property(fc.oneof(fc.string(), fc.json()), (s) => void parseQmpLine(s)));
  t.pass();
});

test('a QMP line longer than the cap is an error, not memory', (t) => {
  const split = new LineSplitter(16);
  t.deepEqual(split.push('{"a":1}\n{"b"'), { lines: ['{"a":1}'], error: null });
  t.regex(split.push('x'.repeat(20)).error ?? '', /longer than 16/);
});

// --- qemu-img info and the chain ------------------------------------------------------------

const INFO = {
  'virtual-size': 1048576,
  filename: '/store/blobs/top',
  format: 'qcow2',
  'format-specific': { type: 'qcow2', data: { corrupt: false } },
  'backing-filename': '../../../aa/aa/aa/bottom',
  'full-backing-filename': '/store/blobs/bottom',
  'backing-filename-format': 'qcow2',
};

test('qemu-img info JSON is read into the fields the chain check needs', (t) => {
  t.deepEqual(parseQemuImgInfo(INFO), {
    filename: '/store/blobs/top',
    format: 'qcow2',
    virtualSize: 1048576,
    encrypted: false,
    corrupt: false,
    backingFilename: '../../../aa/aa/aa/bottom',
    fullBackingFilename: '/store/blobs/bottom',
    backingFormat: 'qcow2',
    children: null,
  });
});

test('any qemu-img info value parses or fails with a ChainError', (t) => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.anything(),
        fc.record({
          filename: fc.anything(),
          format: fc.anything(),
          'virtual-size': fc.anything(),
          children: fc.anything(),
        }),
      ),
      (v) => {
        try {
          parseQemuImgInfo(v);
        } catch (err) {
          if (!(err instanceof ChainError)) throw err;
        }
      },
    ),
  );
  t.pass();
});

const D0 = '0'.repeat(64);
const D1 = '1'.repeat(64);

function layered(over: { lower?: string; size0?: string; size1?: string } = {}): Manifest {
  return {
    label: 'l',
    revision: 0,
    description: '',
    attrs: { [A.head]: 'layer-1' },
    blobs: {
      'layer-0': { digest: D0, size: 1, attrs: { [A.virtualSize]: over.size0 ?? '1048576' } },
      'layer-1': {
        digest: D1,
        size: 1,
        attrs: { [A.virtualSize]: over.size1 ?? '1048576', [A.lower]: over.lower ?? 'layer-0' },
      },
    },
  };
}

function info(path: string, patch: Partial<Qcow2Info> = {}): Qcow2Info {
  return {
    filename: path,
    format: 'qcow2',
    virtualSize: 1048576,
    encrypted: false,
    corrupt: false,
    backingFilename: null,
    fullBackingFilename: null,
    backingFormat: null,
    children: null,
    ...patch,
  };
}

function deps(files: Record<string, Qcow2Info>) {
  return {
    blobPath: (digest: string) => `/store/${digest.slice(0, 1)}`,
    realpath: async (p: string) => {
      if (!(p in files)) throw new Error('ENOENT');
      return p;
    },
    info: async (p: string) => files[p]!,
  };
}

const GOOD = {
  '/store/1': info('/store/1', { fullBackingFilename: '/store/0', backingFilename: '../0', backingFormat: 'qcow2' }),
  '/store/0': info('/store/0'),
};

test('a sound two-layer chain gives the head path and virtual size', async (t) => {
  t.deepEqual(await checkChain(layered(), deps(GOOD), 2 ** 30), {
    headPath: '/store/1',
    virtualSize: 1048576,
    layers: ['layer-1', 'layer-0'],
  });
});

for (const [name, manifest, files, max, message] of [
  ['no head attribute', { ...layered(), attrs: {} }, GOOD, 2 ** 30, /not a qemu_layered_v0 image/],
  [
    'a virtual size that differs from the manifest',
    layered({ size0: '5' }),
    GOOD,
    2 ** 30,
    /layer layer-0: virtual size 1048576 bytes differs from the manifest's 5/,
  ],
  [
    'a lower that is not the backing file',
    layered(),
    { ...GOOD, '/store/1': info('/store/1', { fullBackingFilename: '/elsewhere' }), '/elsewhere': info('/elsewhere') },
    2 ** 30,
    /its backing file is \/elsewhere, not the store path of layer-0/,
  ],
  [
    'a missing backing file',
    layered(),
    { ...GOOD, '/store/1': info('/store/1', { fullBackingFilename: '/gone' }) },
    2 ** 30,
    /backing file \/gone does not exist/,
  ],
  [
    'a bottom layer with a backing file',
    layered(),
    { ...GOOD, '/store/0': info('/store/0', { backingFilename: 'x', fullBackingFilename: '/x' }) },
    2 ** 30,
    /bottom layer .* has a backing file/,
  ],
  [
    'an encrypted layer',
    layered(),
    { ...GOOD, '/store/0': info('/store/0', { encrypted: true }) },
    2 ** 30,
    /encrypted/,
  ],
  [
    'a raw backing format',
    layered(),
    { ...GOOD, '/store/1': { ...GOOD['/store/1'], backingFormat: 'raw' } },
    2 ** 30,
    /backing file format is raw/,
  ],
  [
    'a lower naming a blob the image lacks',
    layered({ lower: 'layer-9' }),
    GOOD,
    2 ** 30,
    /names blob layer-9, which is missing/,
  ],
  ['a disk larger than working_disk_max_bytes', layered(), GOOD, 1000, /larger than working_disk_max_bytes/],
  [
    'other than one child node (QEMU >= 8)',
    layered(),
    { ...GOOD, '/store/1': { ...GOOD['/store/1'], children: [] } },
    2 ** 30,
    /exactly one child/,
  ],
] as const) {
  test(`the chain check refuses ${name}`, async (t) => {
    await t.throwsAsync(checkChain(manifest as Manifest, deps(files as Record<string, Qcow2Info>), max), {
      instanceOf: ChainError,
      message,
    });
  });
}

test('a chain that loops back on itself is refused', async (t) => {
  const m = layered();
  m.blobs['layer-0']!.attrs[A.lower] = 'layer-1';
  const files = { ...GOOD, '/store/0': info('/store/0', { fullBackingFilename: '/store/1' }) };
  await t.throwsAsync(checkChain(m, deps(files), 2 ** 30), { instanceOf: ChainError, message: /cycle/ });
});

test('the direct-boot extension names kernel and initramfs blobs; images without it have none', (t) => {
  const m = layered();
  t.is(
    directBoot(m, (d) => d),
    null,
  );
  m.attrs['org.tockos.treadmill.image.qemu_direct_boot_v0.kernel'] = 'layer-0';
  t.deepEqual(
    directBoot(m, (d) => `/b/${d.slice(0, 1)}`),
    { kernel: '/b/0', initrd: null, cmdline: 'console=ttyS0' },
  );
});

// --- crash leftovers ------------------------------------------------------------------------

test('job directories of dead or unknown owners are removed at start; a live owner keeps its own', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tml-qemu-leftovers-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  for (const [name, owner] of [
    ['dead', '2147483646'],
    ['unknown', null],
    ['live', String(process.ppid)],
  ] as const) {
    await mkdir(join(dir, name));
    await writeFile(join(dir, name, 'disk.qcow2'), 'x');
    if (owner !== null) await writeFile(join(dir, name, 'supervisor.pid'), owner);
  }
  t.deepEqual((await removeLeftoverJobDirs(dir)).sort(), ['dead', 'unknown']);
  t.deepEqual(await readdir(dir), ['live']);
});

test('the default config does not depend on flags', (t) => {
  t.deepEqual(parseQemuConfig({}, { XDG_STATE_HOME: '/s' }), defaultQemuConfig({ XDG_STATE_HOME: '/s' }));
});

test('any TOML text gives a [qemu] table or a ValidationError', (t) => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.string(),
        fc.string().map((s) => `[qemu]\n${s}`),
      ),
      (text) => {
        try {
          qemuTableFromToml(text, 'f.toml');
        } catch (err) {
          if (!(err instanceof ValidationError)) throw err;
        }
      },
    ),
  );
  t.pass();
});
