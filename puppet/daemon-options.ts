// The daemon's flags, defined once: yargs uses this table for help and validation, and
// `parseDaemonArgs` parses the common case without loading yargs at all. Start-up time is
// what a booting host waits for, and yargs costs about a third of it (loading, plus rendering
// help text it caches on every run).

import { parseArgs } from 'node:util';
import {
  DEFAULT_JOB_INFO_DIR,
  DEFAULT_PARAMETERS_DIR,
  DEFAULT_PUPPET_SOCKET,
  FW_CFG_CONTROL_SOCKET_PATH,
} from '../protocol/paths.js';
import { LOG_FORMATS, LOG_LEVELS } from '../protocol/log.js';

interface StringOption {
  type: 'string';
  describe: string;
  default?: string;
  choices?: readonly string[];
  alias?: string;
}
interface BooleanOption {
  type: 'boolean';
  describe: string;
  default: boolean;
}

export const DAEMON_OPTIONS = {
  transport: {
    type: 'string',
    alias: 't',
    choices: ['tcp', 'auto_discover'],
    describe: 'how to find the control socket (default: tcp if --tcp-control-socket-addr is given)',
  },
  'tcp-control-socket-addr': { type: 'string', describe: 'supervisor control socket, IP:PORT' },
  'fw-cfg-path': {
    type: 'string',
    default: FW_CFG_CONTROL_SOCKET_PATH,
    describe: 'auto_discover: file holding IP:PORT',
  },
  'parameters-dir': {
    type: 'string',
    describe: `write job parameters here (conventionally ${DEFAULT_PARAMETERS_DIR})`,
  },
  'secret-parameters-mode': {
    type: 'string',
    default: '0644',
    describe: 'octal mode of secret parameter files (0644 as upstream: readable by the workload user)',
  },
  'secret-parameters-group': { type: 'string', describe: 'group (name or gid) to give secret parameter files' },
  'job-info-dir': {
    type: 'string',
    describe: `write job-id and host-id here (conventionally ${DEFAULT_JOB_INFO_DIR})`,
  },
  'authorized-keys-file': { type: 'string', describe: "write the job's SSH keys here" },
  'exit-on-authorized-keys-update-error': {
    type: 'boolean',
    default: true,
    describe: 'exit if the SSH keys cannot be fetched or written (on by default, as upstream; --no-... to log instead)',
  },
  'network-config-script': { type: 'string', describe: 'run this with the network configuration in its environment' },
  'exit-on-network-config-error': {
    type: 'boolean',
    default: true,
    describe:
      'exit if the network configuration cannot be fetched or the script fails (on by default, as upstream; --no-... to log instead)',
  },
  'request-timeout': {
    type: 'string',
    default: '10',
    describe: 'seconds the supervisor has to answer a request before it counts as refused',
  },
  'dbus-bus': {
    type: 'string',
    choices: ['system', 'session', 'none'],
    default: 'system',
    describe: 'accepted for compatibility; unused',
  },
  socket: { type: 'string', default: DEFAULT_PUPPET_SOCKET, describe: 'Unix socket for local commands' },
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
  'log-format': {
    type: 'string',
    choices: LOG_FORMATS,
    default: 'text',
    describe: 'text lines, or json (one object per line) for log collectors',
  },
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
 * Parses daemon flags the plain way (`--flag value`, `--flag=value`, `-t value`, `--switch`,
 * `--no-switch`). Returns null for anything else (help, unknown or repeated flags, bad choices),
 * which the caller then hands to yargs for its full handling and messages.
 */
export function parseDaemonArgs(args: string[]): DaemonArgs | null {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    const options = Object.fromEntries(
      Object.entries(DAEMON_OPTIONS).map(([k, v]) => [
        k,
        'alias' in v && v.alias !== undefined ? { type: v.type, short: v.alias } : { type: v.type },
      ]),
    );
    parsed = parseArgs({ args, options, strict: true, allowPositionals: false, allowNegative: true, tokens: true });
  } catch {
    return null;
  }
  const names = parsed.tokens!.flatMap((t) => (t.kind === 'option' ? [t.name] : []));
  if (new Set(names).size !== names.length) return null; // yargs makes repeats arrays; leave them to it
  const out: Record<string, string | boolean | undefined> = {};
  for (const [key, spec] of Object.entries(DAEMON_OPTIONS) as Array<[string, StringOption | BooleanOption]>) {
    const v = parsed.values[key] ?? spec.default;
    // `--no-` of a string flag parses as false
    if (spec.type === 'string' && typeof v === 'boolean') return null;
    if (spec.type === 'boolean' && typeof v !== 'boolean') return null;
    if (spec.type === 'string' && spec.choices && v !== undefined && !spec.choices.includes(v as string)) return null;
    out[key] = v as string | boolean | undefined;
  }
  return out as DaemonArgs;
}

/** `--secret-parameters-mode`: octal permission bits, e.g. 0640 or 640. Throws with a one-line message. */
export function parseFileMode(text: string): number {
  if (!/^0?[0-7]{3}$/.test(text))
    throw new Error(`--secret-parameters-mode must be octal permission bits such as 0640, not ${JSON.stringify(text)}`);
  return parseInt(text, 8);
}

/** `--request-timeout`: seconds, more than 0 and at most an hour. Throws with a one-line message. */
export function parseSeconds(flag: string, text: string): number {
  const s = /^\d+(\.\d+)?$/.test(text) ? Number(text) : NaN;
  if (!(s > 0 && s <= 3600))
    throw new Error(`--${flag} must be a number of seconds (0-3600], not ${JSON.stringify(text)}`);
  return s;
}
