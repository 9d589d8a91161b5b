#!/usr/bin/env node
// tml-puppet: the in-host daemon (`daemon`) and the local commands boot scripts call.

import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Argv } from 'yargs';
import {
  completionArgs,
  completionFromHelp,
  type Exits,
  exitsText,
  manualPath,
  teach,
  USAGE_EXIT,
} from '../protocol/cli-help.js';
import { stdoutColumns } from '../protocol/stdout.js';
import { ClientError, callDaemon, socketPath } from './client.js';
import { DEFAULT_PARAMETERS_DIR, PARAMETERS_DIR_ENV } from '../protocol/paths.js';
import { Daemon } from './daemon.js';
import { DAEMON_OPTIONS, parseDaemonArgs, parseFileMode, parseSeconds, type DaemonArgs } from './daemon-options.js';
import { sanitizeParameterName } from './files.js';
import { runForeground } from './job-run.js';
import { version } from './version.js';
import { ExitWith, runCli, typingMistake, UsageError } from '../protocol/cli.js';
import { resolveGroup } from './local-socket.js';
import { createLogger, type LogFormat, type LogLevel } from '../protocol/log.js';
import type { WorkloadExitStatus } from '../protocol/control-socket/messages.js';
import { MAX_WORKLOAD_OUTPUT_BYTES, capNullableText } from '../protocol/text-caps.js';

function parametersDir(): string {
  return process.env[PARAMETERS_DIR_ENV] || DEFAULT_PARAMETERS_DIR;
}

/** The flags that need more than a type check; throws UsageError with one line. */
function checkedDaemonValues(argv: DaemonArgs) {
  try {
    const group = argv['secret-parameters-group'];
    return {
      parameterModes: {
        plain: { mode: 0o644 },
        secret: {
          mode: parseFileMode(argv['secret-parameters-mode']),
          gid: group === undefined ? undefined : resolveGroup(group),
        },
      },
      requestTimeoutMs: parseSeconds('request-timeout', argv['request-timeout']) * 1000,
    };
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** Runs the daemon until a signal or a fatal error stops it; resolves with the exit code. */
async function runDaemon(argv: DaemonArgs): Promise<number> {
  const log = createLogger({ level: argv['log-level'] as LogLevel, format: argv['log-format'] as LogFormat });
  const { parameterModes, requestTimeoutMs } = checkedDaemonValues(argv);
  const transport = (argv.transport ?? (argv['tcp-control-socket-addr'] ? 'tcp' : 'auto_discover')) as
    'tcp' | 'auto_discover';
  if (argv['dbus-bus'] !== 'none')
    log.debug(`--dbus-bus ${argv['dbus-bus']} accepted; the local CLI uses ${argv.socket} instead of D-Bus`);
  let exited: (code: number) => void = () => {};
  const ended = new Promise<number>((resolve) => (exited = resolve));
  const exit = (code: number) => {
    void daemon.stop().finally(() => exited(code));
  };
  const daemon = new Daemon(
    {
      transport,
      tcpControlSocketAddr: argv['tcp-control-socket-addr'],
      fwCfgPath: argv['fw-cfg-path'],
      parametersDir: argv['parameters-dir'],
      parameterModes,
      jobInfoDir: argv['job-info-dir'],
      authorizedKeysFile: argv['authorized-keys-file'],
      exitOnAuthorizedKeysUpdateError: argv['exit-on-authorized-keys-update-error'],
      networkConfigScript: argv['network-config-script'],
      exitOnNetworkConfigError: argv['exit-on-network-config-error'],
      requestTimeoutMs,
      socket: argv.socket,
      socketGroup: argv['socket-group'],
      shutdownCommand: argv['shutdown-command'],
      rebootCommand: argv['reboot-command'],
      log,
    },
    (message) => {
      log.error(`fatal: ${message}`);
      exit(1);
    },
  );
  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    process.once(sig, () => {
      log.info(`received ${sig}, stopping`);
      exit(0);
    });
  }
  try {
    await daemon.start();
  } catch (e) {
    await daemon.stop().catch(() => {});
    throw e;
  }
  return ended;
}

async function readOutput(file: string): Promise<string> {
  try {
    // opening /dev/stdin fails when stdin is a socket (as under Node's spawn); read the stream
    if (file === '/dev/stdin') return Buffer.concat(await process.stdin.toArray()).toString('utf8');
    return await fs.readFile(file, 'utf8');
  } catch (e) {
    throw new Error(`cannot read --output-file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

function warnIfQueued(r: { connected?: boolean }): void {
  if (r.connected === false) process.stderr.write('tml-puppet: note: supervisor not connected; the report is queued\n');
}

/** A report the supervisor cannot take, as `job run` says it: the workload's result still counts. */
function warnUnsupported(e: ClientError): void {
  process.stderr.write(`tml-puppet: warning: ${e.message}\n`);
}

/** Runs CMD and reports how it ended; resolves with the exit code `job run` ends with. */
async function jobRun(command: string[], substate: string | undefined, terminate: boolean): Promise<number> {
  const sock = socketPath();
  let unsupported: ClientError | null = null;
  const report = async (req: Parameters<typeof callDaemon>[1]) => {
    try {
      return await callDaemon(sock, req);
    } catch (e) {
      if (!(e instanceof ClientError && e.unsupported)) throw e;
      unsupported = e; // the last one says most: finish's says whether the job was asked to terminate
      return null;
    }
  };
  // fail before the workload runs, not after, if its result could not be reported
  if (substate !== undefined) await report({ op: 'substate', substate });
  else await callDaemon(sock, { op: 'ping' });
  const outcome = await runForeground(command);
  if (outcome.startError !== undefined) process.stderr.write(`tml-puppet: ${outcome.summary}\n`);
  try {
    await report({ op: 'finish', status: outcome.status, output: outcome.summary, terminate });
  } catch (e) {
    throw new ExitWith(outcome.exitCode === 0 ? 1 : outcome.exitCode, (e as Error).message);
  }
  if (unsupported !== null) warnUnsupported(unsupported);
  return outcome.exitCode;
}

const MANUAL = 'puppet.md';
const UNREACHABLE = 'the daemon is unreachable, or refused the report (one line on stderr)';
const exits = (ok: string, failed = UNREACHABLE): Exits => [[0, ok], [1, failed], USAGE_EXIT];
const ROOT_EXITS: Exits = [
  [0, 'done'],
  [1, 'a runtime failure: daemon unreachable, report refused, missing parameter, a daemon that cannot start'],
  USAGE_EXIT,
  ['CMD', "job run: the workload's own exit code (see tml-puppet job run --help)"],
];

/** A command's help: its examples, then its exit codes and the manual. */
const taught = <T>(y: Argv<T>, examples: Array<[string, string]>, exitCodes: Exits): Argv<T> =>
  teach(y, { examples, exits: exitCodes, manual: MANUAL });

const jsonOption = { type: 'boolean', default: false, describe: 'print the result as JSON' } as const;

/** What a command that ends with a code of its own (`daemon`, `job run`) resolved with. */
let exitCode = 0;

function jobCommands(y: Argv): Argv {
  return y
    .option('dbus-bus', {
      choices: ['system', 'session'] as const,
      describe: "accepted for upstream's spelling; the daemon is reached over its socket (TML_PUPPET_SOCKET)",
    })
    .command(
      'finish',
      'report how the workload ended (declareworkloadexitstatus)',
      (c) =>
        taught(
          c,
          [
            ['$0 job finish --status success', 'the workload passed'],
            ['make test 2>&1 | $0 job finish --status error --output-file /dev/stdin', 'with its output'],
          ],
          exits('reported'),
        )
          .option('status', {
            choices: ['success', 'error', 'unknown'] as const,
            demandOption: true,
            describe: 'workload exit status',
          })
          .option('output', { type: 'string', describe: 'text to attach to the report' })
          .option('output-file', { type: 'string', describe: "attach this file's contents (/dev/stdin for a pipe)" })
          .option('terminate', {
            type: 'boolean',
            default: false,
            describe: 'then ask the supervisor to terminate the job',
          })
          .conflicts('output', 'output-file'),
      async (argv) => {
        // Cut here too: a request this large would be refused by the daemon, and the status with it.
        const output = capNullableText(
          argv['output-file'] !== undefined ? await readOutput(argv['output-file']) : (argv.output ?? null),
          MAX_WORKLOAD_OUTPUT_BYTES,
        );
        const r = await callDaemon(socketPath(), {
          op: 'finish',
          status: argv.status as WorkloadExitStatus,
          output,
          terminate: argv.terminate,
        });
        warnIfQueued(r);
      },
    )
    .command(
      'substate <text>',
      'report what the job is doing now (reportsubstate)',
      (c) =>
        taught(c, [['$0 job substate "flashing the board"', '']], exits('reported')).positional('text', {
          type: 'string',
          demandOption: true,
          describe: 'what the job is doing, e.g. "flashing"',
        }),
      async (argv) => reportSubstate(String(argv.text)),
    )
    .command(
      'run [command..]',
      'run a command (after --), report success/error/unknown from how it ended, exit with its code',
      (c) =>
        taught(
          c,
          [
            ['$0 job run --terminate -- make test', 'run the tests, report how they ended, then end the job'],
            ['$0 job run --substate testing -- ./run-tests.sh --fast', ''],
          ],
          [
            [0, 'CMD exited 0, and its success was reported'],
            ['CMD', "CMD's exit code when it failed (reported as error)"],
            ['128+N', 'signal N ended CMD (e.g. 143 for SIGTERM)'],
            [127, 'CMD could not be started (said on stderr, and reported as error)'],
            [1, `${UNREACHABLE}; CMD is not run if that is known before it starts`],
            USAGE_EXIT,
          ],
        )
          .positional('command', { type: 'string', array: true, describe: 'the command and its arguments (after --)' })
          .option('terminate', {
            type: 'boolean',
            default: false,
            describe: 'then ask the supervisor to terminate the job',
          })
          .option('substate', { type: 'string', describe: 'report this sub-state before starting' }),
      async (argv) => {
        const command = [
          ...((argv.command as string[] | undefined) ?? []),
          ...((argv['--'] as string[] | undefined) ?? []),
        ].map(String);
        if (command.length === 0) throw new UsageError('job run needs a command, e.g. tml-puppet job run -- make test');
        exitCode = await jobRun(command, argv.substate, argv.terminate);
      },
    )
    .command(
      'terminate',
      'ask the supervisor to terminate this job (terminatejob)',
      (c) => taught(c, [['$0 job terminate', '']], exits('asked')),
      async () => warnIfQueued(await callDaemon(socketPath(), { op: 'terminate' })),
    )
    .command(
      'info',
      "this job's id and host id",
      (c) => taught(c, [['$0 job info --json', '']], exits('printed')).option('json', jsonOption),
      async (argv) => {
        const r = await callDaemon(socketPath(), { op: 'jobinfo' });
        const host = r.host_id ?? null;
        if (argv.json) process.stdout.write(`${JSON.stringify({ job_id: r.job_id, host_id: host })}\n`);
        else process.stdout.write(`job id:  ${r.job_id}\nhost id: ${host ?? '(not given by this supervisor)'}\n`);
      },
    )
    .demandCommand(1, 'job needs a subcommand: finish, substate, run, terminate or info');
}

/** `parameter get NAME`: the value exactly as the file holds it. */
async function printParameter(name: string): Promise<void> {
  const dir = parametersDir();
  const file = sanitizeParameterName(name);
  let value: Buffer;
  try {
    if (file === '') throw Object.assign(new Error(), { code: 'ENOENT' });
    value = await fs.readFile(path.join(dir, file));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new Error(`no parameter named ${JSON.stringify(name)} in ${dir}`);
    if (code === 'EACCES') throw new Error(`parameter ${JSON.stringify(name)} is secret and not readable by this user`);
    throw new Error(`cannot read parameter ${JSON.stringify(name)}: ${code ?? (e as Error).message}`);
  }
  process.stdout.write(value);
}

function parameterCommands(y: Argv): Argv {
  return y
    .command(
      'get <name>',
      "print a parameter's value (exactly, no newline added)",
      (c) =>
        taught(
          c,
          [['BOARD=$($0 parameter get board)', 'in a boot script']],
          exits('printed', 'no such parameter, or it is secret and not readable by this user'),
        ).positional('name', { type: 'string', demandOption: true, describe: 'the parameter name' }),
      async (argv) => printParameter(String(argv.name)),
    )
    .command(
      'list',
      'list the parameter names',
      (c) =>
        taught(
          c,
          [['$0 parameter list --json', '']],
          exits('listed', 'the parameters directory cannot be read'),
        ).option('json', jsonOption),
      async (argv) => {
        const dir = parametersDir();
        let names: string[];
        try {
          const entries = await fs.readdir(dir, { withFileTypes: true });
          names = entries
            .filter((e) => e.isFile() && !e.name.startsWith('.'))
            .map((e) => e.name)
            .sort();
        } catch (e) {
          throw new Error(
            `cannot read the parameters directory ${dir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
          );
        }
        process.stdout.write(argv.json ? `${JSON.stringify(names)}\n` : names.map((n) => `${n}\n`).join(''));
      },
    )
    .demandCommand(1, 'parameter needs a subcommand: get or list');
}

/** `job substate TEXT`. */
async function reportSubstate(text: string): Promise<void> {
  warnIfQueued(await callDaemon(socketPath(), { op: 'substate', substate: text }));
}

/**
 * What boot scripts call in loops, in its plain form (the command's words, then one word that is
 * not a flag), answered without loading yargs, as the daemon's flags are (daemon-options.ts): the
 * handler yargs would run, with the word yargs would give it. Any other form gets yargs.
 */
const PLAIN = new Map<string, (word: string) => Promise<void>>([
  ['parameter get', printParameter],
  ['job substate', reportSubstate],
]);

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  if (args[0] === 'daemon') {
    const daemonArgs = parseDaemonArgs(args.slice(1));
    if (daemonArgs) return runDaemon(daemonArgs);
  }
  const plain = args.length === 3 && !args[2]!.startsWith('-') ? PLAIN.get(`${args[0]} ${args[1]}`) : undefined;
  if (plain) {
    await plain(args[2]!);
    return exitCode;
  }
  const { default: yargs } = await import('yargs');
  await parser(yargs, args).parseAsync();
  return exitCode;
}

/** The command line parser; the daemon's flags are also read without it (see main). */
function parser(yargs: (args: string[]) => Argv, args: string[]): Argv {
  return (
    yargs(args)
      .scriptName('tml-puppet')
      .parserConfiguration({ 'populate--': true })
      .usage(
        '$0 <command>\n\nTreadmill in-host puppet: the daemon, and the commands a job uses to read parameters and report.',
      )
      .command(
        'daemon',
        'run the puppet daemon (connects to the supervisor, serves the local commands)',
        (c) =>
          taught(
            c,
            [
              ['$0 daemon --tcp-control-socket-addr 10.0.2.2:3859', 'as a local host starts it'],
              ['$0 daemon --transport auto_discover --parameters-dir /run/tml/parameters', 'in a QEMU guest'],
            ],
            [
              [0, 'stopped by a signal, or the supervisor ended the job'],
              [1, 'cannot start (socket, supervisor unreachable) or stopped on a fatal error (see its log)'],
              USAGE_EXIT,
            ],
          ).options(DAEMON_OPTIONS),
        async (argv) => {
          exitCode = await runDaemon(argv as DaemonArgs);
        },
      )
      .command('job', 'report on the job: finish, substate, run, terminate, info', (y) =>
        taught(jobCommands(y), [['$0 job run -- make test', '']], ROOT_EXITS),
      )
      .command('parameter', "read the job's parameters: get, list", (y) =>
        taught(parameterCommands(y), [['$0 parameter get board', '']], ROOT_EXITS),
      )
      .command('host', 'describe this host', (y) =>
        taught(y, [['$0 host info', '']], ROOT_EXITS)
          .command(
            'info',
            "the host's OS, CPU, memory, network interfaces and USB devices",
            (c) =>
              taught(c, [['$0 host info --json', '']], exits('printed', 'the host could not be described')).option(
                'json',
                jsonOption,
              ),
            async (argv) => {
              const { collectHostInfo, formatHostInfo } = await import('./host-info.js');
              const info = await collectHostInfo();
              process.stdout.write(argv.json ? `${JSON.stringify(info, null, 2)}\n` : formatHostInfo(info));
            },
          )
          .demandCommand(1, 'host needs a subcommand: info'),
      )
      .command(
        'completion [shell]',
        'print a completion script for bash or zsh',
        (c) => completionArgs(c, 'tml-puppet', MANUAL),
        async (argv) => {
          process.stdout.write(await completionFromHelp('tml-puppet', argv.shell, (words) => parser(yargs, words)));
        },
      )
      .demandCommand(1, 'a command is needed: daemon, job, parameter or host')
      .recommendCommands()
      .strict()
      .help()
      .version(version())
      .example([
        ['$0 parameter get board', "a job's parameter, in a boot script"],
        ['$0 job run --terminate -- make test', 'run the workload and report how it ended'],
      ])
      .epilogue(`${exitsText(ROOT_EXITS)}\n\nManual: ${manualPath(MANUAL)}`)
      // wrapping help text costs ~20 ms on every run (yargs renders it eagerly); only pay it for --help
      .wrap(args.includes('--help') ? Math.min(100, stdoutColumns() || 80) : null)
      .fail((msg, err) => {
        if (err) throw err;
        throw new UsageError(`${typingMistake(msg, args)} (see tml-puppet --help)`);
      })
  );
}

runCli('tml-puppet', main);
