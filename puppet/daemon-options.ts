// The daemon's flags, defined once: yargs uses this table for help and validation, and
// `parseDaemonArgs` parses the common case without loading yargs at all. Start-up time is
// what a booting host waits for, and yargs costs about a third of it (loading, plus rendering
// help text it caches on every run).

import { parseArgs } from 'node:util';
import { DEFAULT_SOCKET } from './client.js';
import { FW_CFG_PATH } from './daemon.js';
import { LOG_LEVELS } from './log.js';

interface StringOption {
  type: 'string';
  describe: string;
  default?: string;
  choices?: readonly string[];
}
interface BooleanOption {
  type: 'boolean';
  describe: string;
  default: boolean;
}

export const DAEMON_OPTIONS = {
  transport: {
    type: 'string',
    choices: ['tcp', 'auto_discover'],
    describe: 'how to find the control socket (default: tcp if --tcp-control-socket-addr is given)',
  },
  'tcp-control-socket-addr': { type: 'string', describe: 'supervisor control socket, IP:PORT' },
  'fw-cfg-path': { type: 'string', default: FW_CFG_PATH, describe: 'auto_discover: file holding IP:PORT' },
  'parameters-dir': { type: 'string', describe: 'write job parameters here (conventionally /run/tml/parameters)' },
  'job-info-dir': { type: 'string', describe: 'write job-id and host-id here (conventionally /run/tml)' },
  'authorized-keys-file': { type: 'string', describe: "write the job's SSH keys here" },
  'exit-on-authorized-keys-update-error': {
    type: 'boolean',
    default: false,
    describe: 'exit if the SSH keys cannot be fetched or written',
  },
  'network-config-script': { type: 'string', describe: 'run this with the network configuration in its environment' },
  'exit-on-network-config-error': {
    type: 'boolean',
    default: false,
    describe: 'exit if the network config script fails',
  },
  'dbus-bus': {
    type: 'string',
    choices: ['system', 'session', 'none'],
    default: 'system',
    describe: 'accepted for compatibility; unused',
  },
  socket: { type: 'string', default: DEFAULT_SOCKET, describe: 'Unix socket for local commands' },
  'socket-group': { type: 'string', describe: 'group (name or gid) allowed to use the socket' },
  'shutdown-command': {
    type: 'string',
    default: 'systemctl poweroff',
    describe: 'run (via /bin/sh -c) on a shutdown request',
  },
  'reboot-command': {
    type: 'string',
    default: 'systemctl reboot',
    describe: 'run (via /bin/sh -c) on a reboot request',
  },
  'log-level': { type: 'string', choices: LOG_LEVELS, default: 'info', describe: 'least severe level logged (stderr)' },
} as const satisfies Record<string, StringOption | BooleanOption>;

type Spec = typeof DAEMON_OPTIONS;
export type DaemonArgs = {
  [K in keyof Spec]: Spec[K] extends BooleanOption
    ? boolean
    : Spec[K] extends { default: string }
      ? string
      : string | undefined;
};

/**
 * Parses daemon flags the plain way (`--flag value`, `--flag=value`, `--switch`). Returns null
 * for anything else (help, unknown or repeated flags, bad choices, yargs spellings such as
 * `--no-switch`), which the caller then hands to yargs for its full handling and messages.
 */
export function parseDaemonArgs(args: string[]): DaemonArgs | null {
  let values: Record<string, string | boolean | undefined>;
  try {
    const options = Object.fromEntries(Object.entries(DAEMON_OPTIONS).map(([k, v]) => [k, { type: v.type }]));
    ({ values } = parseArgs({ args, options, strict: true, allowPositionals: false, tokens: false }));
  } catch {
    return null;
  }
  const flags = args.filter((a) => a.startsWith('--')).map((a) => a.split('=')[0]);
  if (new Set(flags).size !== flags.length) return null; // yargs makes repeats arrays; leave them to it
  const out: Record<string, string | boolean | undefined> = {};
  for (const [key, spec] of Object.entries(DAEMON_OPTIONS) as Array<[string, StringOption | BooleanOption]>) {
    const v = values[key] ?? spec.default;
    if (spec.type === 'string' && spec.choices && v !== undefined && !spec.choices.includes(v as string)) return null;
    out[key] = v;
  }
  return out as DaemonArgs;
}
