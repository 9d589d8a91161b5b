// `tml-supervisor --host qemu` flags: each sets one `[qemu]` key (same names with dashes), on top of
// the `[qemu]` table of `--qemu-config FILE` when given. The merged table goes through
// parseQemuConfig, so flags and files are checked alike.

import { readFileSync } from 'node:fs';
import { parse as parseToml } from 'smol-toml';
import { ValidationError, isObject } from '../../../protocol/validation.js';
import { parseQemuConfig, type QemuConfig } from './config.js';

export const QEMU_FLAGS = {
  'qemu-config': { type: 'string', describe: 'qemu host: TOML file whose [qemu] table holds the settings below' },
  'qemu-binary': { type: 'string', describe: 'qemu host: QEMU to run (qemu_binary; default qemu-system-x86_64)' },
  'qemu-img-binary': { type: 'string', describe: 'qemu host: qemu-img (qemu_img_binary)' },
  'qemu-state-dir': { type: 'string', describe: 'qemu host: per-job directories go in DIR/jobs (state_dir)' },
  'qemu-arg': {
    type: 'string',
    array: true,
    describe: 'qemu host: one QEMU argument template, repeated (qemu_args; replaces the built-in command line)',
  },
  'qemu-control-socket-listen-addr': {
    type: 'string',
    describe: 'qemu host: HOST:PORT for the control socket (tcp_control_socket_listen_addr; port 0 = free port)',
  },
  'qemu-working-disk-max-bytes': { type: 'number', describe: 'qemu host: per-job disk size (working_disk_max_bytes)' },
  'qemu-start-script': { type: 'string', describe: 'qemu host: run before QEMU (start_script)' },
  'qemu-accel': { type: 'string', choices: ['auto', 'kvm', 'tcg'], describe: 'qemu host: accelerator (accel)' },
  'qemu-memory-mib': { type: 'number', describe: 'qemu host: guest memory in MiB (memory_mib)' },
  'qemu-cpus': { type: 'number', describe: 'qemu host: guest CPUs (cpus)' },
  'qemu-direct-kernel-boot': {
    type: 'boolean',
    describe: "qemu host: boot an image's kernel blob directly when it has one (direct_kernel_boot)",
  },
} as const;

const FLAG_KEYS: Record<string, string> = {
  'qemu-binary': 'qemu_binary',
  'qemu-img-binary': 'qemu_img_binary',
  'qemu-state-dir': 'state_dir',
  'qemu-arg': 'qemu_args',
  'qemu-control-socket-listen-addr': 'tcp_control_socket_listen_addr',
  'qemu-working-disk-max-bytes': 'working_disk_max_bytes',
  'qemu-start-script': 'start_script',
  'qemu-accel': 'accel',
  'qemu-memory-mib': 'memory_mib',
  'qemu-cpus': 'cpus',
  'qemu-direct-kernel-boot': 'direct_kernel_boot',
};

/** The `[qemu]` table of a TOML document (upstream's whole supervisor config, or just that table). */
export function qemuTableFromToml(text: string, file: string): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = parseToml(text);
  } catch (err) {
    throw new ValidationError(`${file}: not valid TOML (${(err as Error).message.split('\n')[0]})`);
  }
  if (!isObject(doc)) throw new ValidationError(`${file}: not a TOML table`);
  const table = doc.qemu;
  if (table === undefined) return {};
  if (!isObject(table)) throw new ValidationError(`${file}: qemu must be a table`);
  return table;
}

/**
 * The qemu host's settings: `section` (the `[qemu]` table of `--config`), replaced by the `[qemu]`
 * table of `--qemu-config` when given, then each flag on top.
 */
export function qemuConfigFromFlags(
  argv: Record<string, unknown>,
  env: NodeJS.ProcessEnv = process.env,
  section: Record<string, unknown> = {},
): QemuConfig {
  let table: Record<string, unknown> = { ...section };
  const file = argv['qemu-config'];
  if (typeof file === 'string') {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new ValidationError(`cannot read --qemu-config ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
    }
    table = { ...qemuTableFromToml(text, file) };
  }
  for (const [flag, key] of Object.entries(FLAG_KEYS)) {
    if (argv[flag] !== undefined) table[key] = argv[flag];
  }
  return parseQemuConfig(table, env);
}
