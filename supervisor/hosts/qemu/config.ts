// The `qemu` host's settings: upstream's `[qemu]` config keys (same names, same meaning) plus a few of
// ours, each with a default that works on a Debian machine with qemu-system-x86, qemu-utils and ovmf.
// `parseQemuConfig` takes the `[qemu]` table of a TOML file (or flags mapped to the same keys) and
// returns a complete, typed config or throws a ValidationError naming the key.

import { homedir } from 'node:os';
import { join } from 'node:path';
import { ValidationError, expectObject, expectString, rejectUnknownKeys } from '../../../protocol/validation.js';

export type Accel = 'auto' | 'kvm' | 'tcg';

export interface SocketAddr {
  host: string;
  port: number;
}

export interface QemuConfig {
  /** `qemu_binary` */
  qemuBinary: string;
  /** `qemu_img_binary` */
  qemuImgBinary: string;
  /** `state_dir`: per-job directories live in STATE_DIR/jobs/<job id>. */
  stateDir: string;
  /** `qemu_args`: templates; null = the built-in command line (see defaultQemuArgs). */
  qemuArgs: string[] | null;
  /** `tcp_control_socket_listen_addr`; port 0 = a free port per job. */
  tcpControlSocketListenAddr: SocketAddr;
  /** `working_disk_max_bytes`: the per-job overlay's virtual size, and the largest image accepted. */
  workingDiskMaxBytes: number;
  /** `start_script`: run before QEMU; its `tml-set-variable:K=V` lines add template variables. */
  startScript: string | null;

  // Extensions (not in upstream's config).
  /** `accel`: auto probes KVM by booting a guest and falls back to TCG. */
  accel: Accel;
  /** `firmware_code` / `firmware_vars`: UEFI firmware; the variables file is copied per job. */
  firmwareCode: string;
  firmwareVars: string;
  /** `memory_mib`, `cpus`: the built-in command line's machine size. */
  memoryMiB: number;
  cpus: number;
  /** `guest_control_socket_addr`: the control socket as the guest reaches it (a template). */
  guestControlSocketAddr: string;
  /** `ssh_forward`: forward a free host port on ssh_host to the guest's port 22 (built-in command line). */
  sshForward: boolean;
  /** `ssh_host`: where the SSH forward listens, and the host reported in ssh endpoints. */
  sshHost: string;
  /** `ssh_user`: the user reported with the SSH endpoint (upstream's switchboard always says "tml"). */
  sshUser: string;
  /** `direct_kernel_boot`: boot an image's kernel blob directly when it offers one (faster; skips UEFI). */
  directKernelBoot: boolean;
  /** `ready_timeout_secs`: QEMU start to the puppet's `ready` (and again after a guest reboot). */
  readyTimeoutMs: number;
  /** `shutdown_timeout_secs`: how long a guest may take to power off when asked before QEMU is killed. */
  shutdownTimeoutMs: number;
  /** `start_script_timeout_secs` */
  startScriptTimeoutMs: number;
}

export const DEFAULT_WORKING_DISK_MAX_BYTES = 8 * 1024 ** 3;

export function defaultStateDir(env: NodeJS.ProcessEnv = process.env): string {
  const base =
    env.XDG_STATE_HOME && env.XDG_STATE_HOME !== '' ? env.XDG_STATE_HOME : join(homedir(), '.local', 'state');
  return join(base, 'tml-supervisor', 'qemu');
}

export function defaultQemuConfig(env: NodeJS.ProcessEnv = process.env): QemuConfig {
  return {
    qemuBinary: 'qemu-system-x86_64',
    qemuImgBinary: 'qemu-img',
    stateDir: defaultStateDir(env),
    qemuArgs: null,
    tcpControlSocketListenAddr: { host: '127.0.0.1', port: 0 },
    workingDiskMaxBytes: DEFAULT_WORKING_DISK_MAX_BYTES,
    startScript: null,
    accel: 'auto',
    firmwareCode: '/usr/share/OVMF/OVMF_CODE_4M.fd',
    firmwareVars: '/usr/share/OVMF/OVMF_VARS_4M.fd',
    memoryMiB: 1024,
    cpus: 1,
    guestControlSocketAddr: '10.0.2.2:{control_socket_port}',
    sshForward: true,
    sshHost: '127.0.0.1',
    sshUser: 'tml',
    directKernelBoot: false,
    readyTimeoutMs: 300_000,
    shutdownTimeoutMs: 20_000,
    startScriptTimeoutMs: 60_000,
  };
}

/** The `[qemu]` keys this parser knows: upstream's first, then ours. */
export const QEMU_CONFIG_KEYS = [
  'qemu_binary',
  'qemu_img_binary',
  'state_dir',
  'qemu_args',
  'tcp_control_socket_listen_addr',
  'working_disk_max_bytes',
  'start_script',
  'accel',
  'firmware_code',
  'firmware_vars',
  'memory_mib',
  'cpus',
  'guest_control_socket_addr',
  'ssh_forward',
  'ssh_host',
  'ssh_user',
  'direct_kernel_boot',
  'ready_timeout_secs',
  'shutdown_timeout_secs',
  'start_script_timeout_secs',
] as const;

const MAX_ARGS = 1024;
const MAX_STRING = 4096;

function str(raw: unknown, key: string): string {
  const value = expectString(raw, `qemu.${key}`);
  if (value === '') throw new ValidationError(`qemu.${key} must not be empty`);
  if (value.length > MAX_STRING) throw new ValidationError(`qemu.${key} is longer than ${MAX_STRING} characters`);
  if (value.includes('\0')) throw new ValidationError(`qemu.${key} must not contain NUL`);
  return value;
}

function int(value: unknown, key: string, min: number, max: number): number {
  // TOML integers may arrive as bigint (smol-toml does this for values beyond 2^53).
  const n = typeof value === 'bigint' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) {
    throw new ValidationError(`qemu.${key} must be an integer from ${min} to ${max}`);
  }
  return n;
}

function bool(value: unknown, key: string): boolean {
  if (typeof value !== 'boolean') throw new ValidationError(`qemu.${key} must be true or false`);
  return value;
}

/** `HOST:PORT` with an IPv4 address or host name, or `[IPv6]:PORT`. */
export function parseSocketAddr(text: string, key: string): SocketAddr {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]\s]+)):([0-9]{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new ValidationError(`qemu.${key} must be HOST:PORT or [IPV6]:PORT`);
  return { host: m[1] ?? m[2]!, port };
}

export function parseQemuConfig(value: unknown, env: NodeJS.ProcessEnv = process.env): QemuConfig {
  const obj = expectObject(value, 'qemu');
  rejectUnknownKeys(obj, QEMU_CONFIG_KEYS, 'qemu');
  const c = defaultQemuConfig(env);
  const has = (key: (typeof QEMU_CONFIG_KEYS)[number]) => obj[key] !== undefined;
  if (has('qemu_binary')) c.qemuBinary = str(obj.qemu_binary, 'qemu_binary');
  if (has('qemu_img_binary')) c.qemuImgBinary = str(obj.qemu_img_binary, 'qemu_img_binary');
  if (has('state_dir')) c.stateDir = str(obj.state_dir, 'state_dir');
  if (has('qemu_args')) {
    const args = obj.qemu_args;
    if (!Array.isArray(args)) throw new ValidationError('qemu.qemu_args must be an array of strings');
    if (args.length > MAX_ARGS) throw new ValidationError(`qemu.qemu_args has more than ${MAX_ARGS} entries`);
    c.qemuArgs = args.map((raw, i) => {
      const a = expectString(raw, `qemu.qemu_args[${i}]`);
      if (a.length > MAX_STRING || a.includes('\0'))
        throw new ValidationError(`qemu.qemu_args[${i}] is too long or contains NUL`);
      return a;
    });
  }
  if (has('tcp_control_socket_listen_addr'))
    c.tcpControlSocketListenAddr = parseSocketAddr(
      str(obj.tcp_control_socket_listen_addr, 'tcp_control_socket_listen_addr'),
      'tcp_control_socket_listen_addr',
    );
  if (has('working_disk_max_bytes'))
    c.workingDiskMaxBytes = int(obj.working_disk_max_bytes, 'working_disk_max_bytes', 1, Number.MAX_SAFE_INTEGER);
  if (has('start_script')) c.startScript = str(obj.start_script, 'start_script');
  if (has('accel')) {
    const a = obj.accel;
    if (a !== 'auto' && a !== 'kvm' && a !== 'tcg') throw new ValidationError('qemu.accel must be auto, kvm or tcg');
    c.accel = a;
  }
  if (has('firmware_code')) c.firmwareCode = str(obj.firmware_code, 'firmware_code');
  if (has('firmware_vars')) c.firmwareVars = str(obj.firmware_vars, 'firmware_vars');
  if (has('memory_mib')) c.memoryMiB = int(obj.memory_mib, 'memory_mib', 64, 1024 * 1024);
  if (has('cpus')) c.cpus = int(obj.cpus, 'cpus', 1, 256);
  if (has('guest_control_socket_addr'))
    c.guestControlSocketAddr = str(obj.guest_control_socket_addr, 'guest_control_socket_addr');
  if (has('ssh_forward')) c.sshForward = bool(obj.ssh_forward, 'ssh_forward');
  if (has('ssh_host')) c.sshHost = str(obj.ssh_host, 'ssh_host');
  if (has('ssh_user')) c.sshUser = str(obj.ssh_user, 'ssh_user');
  if (has('direct_kernel_boot')) c.directKernelBoot = bool(obj.direct_kernel_boot, 'direct_kernel_boot');
  if (has('ready_timeout_secs')) c.readyTimeoutMs = int(obj.ready_timeout_secs, 'ready_timeout_secs', 1, 86_400) * 1000;
  if (has('shutdown_timeout_secs'))
    c.shutdownTimeoutMs = int(obj.shutdown_timeout_secs, 'shutdown_timeout_secs', 0, 3600) * 1000;
  if (has('start_script_timeout_secs'))
    c.startScriptTimeoutMs = int(obj.start_script_timeout_secs, 'start_script_timeout_secs', 1, 3600) * 1000;
  return c;
}
