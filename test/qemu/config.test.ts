// The qemu host's [qemu] table, without QEMU.
import test from 'ava';
import fc from 'fast-check';
import { ValidationError } from '../../protocol/validation.js';
import { defaultQemuConfig, parseQemuConfig } from '../../supervisor/hosts/qemu/config.js';
import { qemuTableFromToml } from '../../supervisor/hosts/qemu/flags.js';

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

test('the default config does not depend on flags', (t) => {
  t.deepEqual(parseQemuConfig({}, { XDG_STATE_HOME: '/s' }), defaultQemuConfig({ XDG_STATE_HOME: '/s' }));
});
