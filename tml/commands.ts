// The command table of `tml`: every command with its flags, a one-line description of each, an
// example and its exit codes. The parser (parser.ts), the shell completion (completion.ts) and the
// documentation test all read this one table. Commands still to come slot in as entries:
// `job console ID` and `job reserve` beside `job ssh`, `--keep-alive` among RUN_OPTIONS.

import type { Options, PositionalOptions } from 'yargs';
import * as auth from './auth-commands.js';
import { basename } from 'node:path';
import { ExitWith, UsageError } from '../protocol/cli.js';
import { completionScript } from './completion.js';
import { out, str, type Args } from './context.js';
import * as interactive from './interactive-commands.js';
import * as job from './job-commands.js';
import { open } from './open-command.js';
import { OUTCOME_EXIT_DOCS } from './outcome.js';
import * as sup from './supervisor-commands.js';

export type OptionSpec = Options & { describe: string };
export type PositionalSpec = PositionalOptions & { describe: string };

export interface CommandSpec {
  /** yargs' command string: the name, then `<required>` and `[optional]` positionals. */
  command: string;
  describe: string;
  positionals?: Record<string, PositionalSpec>;
  options?: Record<string, OptionSpec>;
  examples?: Array<[string, string]>;
  exits?: Array<[number, string]>;
  subcommands?: CommandSpec[];
  run?: (argv: Args) => Promise<number | void>;
}

/** Runs the handler of `spec`; the exit code it gives, if not 0, ends the CLI with it. */
export async function runCommand(spec: CommandSpec, argv: Args): Promise<void> {
  const code = await spec.run!(argv);
  if (typeof code === 'number' && code !== 0) throw new ExitWith(code);
}

export const GLOBAL_OPTIONS: Record<string, OptionSpec> = {
  config: {
    alias: 'c',
    type: 'string',
    requiresArg: true,
    describe: 'configuration file (default: $XDG_CONFIG_HOME/treadmill-tb/config.toml)',
  },
  'api-url': {
    alias: ['u', 'switchboard'],
    type: 'string',
    requiresArg: true,
    describe: 'switchboard URL; beats TML_SWITCHBOARD_URL and the configuration',
  },
  profile: { type: 'string', requiresArg: true, describe: 'a [profiles.NAME] of the configuration (or TML_PROFILE)' },
  json: { type: 'boolean', describe: 'print the result as JSON on stdout, and nothing else there' },
  'connect-timeout': {
    type: 'string',
    requiresArg: true,
    describe: 'time to connect to the switchboard (default 10s)',
  },
  'request-timeout': {
    type: 'string',
    requiresArg: true,
    describe: 'time for the switchboard to answer a request (default 30s)',
  },
  verbose: { alias: 'v', type: 'boolean', describe: 'say which switchboard and settings are used' },
};

const COMMON_EXITS: Array<[number, string]> = [
  [0, 'done'],
  [1, 'the request failed: switchboard unreachable, no answer in time, refused (401, 403, 404) or a server error'],
  [2, 'usage error: a bad flag or argument, no token, a bad configuration file'],
];

const LIST_OPTIONS: Record<string, OptionSpec> = {
  tsv: { type: 'boolean', describe: 'tab-separated values, for scripts' },
  header: { type: 'boolean', default: true, describe: 'print the header row (--no-header: without it)' },
};

const ENQUEUE_OPTIONS: Record<string, OptionSpec> = {
  'tag-config': {
    type: 'string',
    requiresArg: true,
    describe: '";"-separated tags a supervisor must have (a pool), e.g. "board:nrf52840dk"',
  },
  supervisor: {
    alias: 's',
    type: 'string',
    requiresArg: true,
    describe: 'run on this supervisor only (name or id), as mq -s SYSTEM',
  },
  parameters: {
    type: 'string',
    requiresArg: true,
    describe: 'JSON: {"name": {"value": "...", "secret": true}} or {"name": "value"}',
  },
  'parameters-file': {
    type: 'string',
    // One value always, so `-` (stdin) is not taken for a flag.
    nargs: 1,
    describe: 'read parameters (same JSON) from this file, or - for stdin: keeps secrets out of argv',
  },
  'ssh-key': {
    type: 'string',
    array: true,
    requiresArg: true,
    describe: 'authorized SSH public key, or a file of them (repeatable)',
  },
  'internal-ssh-key': {
    type: 'boolean',
    describe: "add tml's own SSH key (made on first use), so that tml job ssh can log in",
  },
  'disable-internal-ssh-key': {
    type: 'boolean',
    describe: "do not add tml's own SSH key, whatever the configuration says (upstream's flag)",
  },
  timeout: { type: 'string', requiresArg: true, describe: "job time-out, e.g. 30m (default: the switchboard's)" },
  'restart-count': {
    type: 'string',
    requiresArg: true,
    describe: 'how often the job is restarted (0 to 1000, default 0)',
  },
};

const RUN_OPTIONS: Record<string, OptionSpec> = {
  'completion-text': {
    type: 'string',
    requiresArg: true,
    describe: 'stop with success when the console matches this regular expression (mq -c)',
  },
  'error-text': {
    alias: 'e',
    type: 'string',
    requiresArg: true,
    describe: 'stop with failure when the console matches this regular expression (mq -e)',
  },
  'completion-timeout': {
    alias: 'd',
    type: 'string',
    requiresArg: true,
    describe: 'from leaving the queue, how long to wait for the completion text or the end (mq -d)',
  },
  log: { alias: 'l', type: 'string', requiresArg: true, describe: 'also write the console to this file (mq -l)' },
  'keep-alive': {
    alias: 'a',
    type: 'boolean',
    describe: 'after the completion or error text, keep the job and make the console read-write (mq -a)',
  },
};

const { timeout: _timeout, ...RESERVE_OPTIONS } = ENQUEUE_OPTIONS;

const JOB_ID: Record<string, PositionalSpec> = {
  id: { type: 'string', demandOption: true, describe: 'job id (a UUID)' },
};
const SUPERVISOR_REF: Record<string, PositionalSpec> = {
  supervisor: { type: 'string', demandOption: true, describe: "a supervisor's name or id" },
};
const IMAGE: Record<string, PositionalSpec> = {
  image: { type: 'string', demandOption: true, describe: 'image id (64 hex digits)' },
};

const ID = '3fa85f64-5717-4562-b3fc-2c963f66afa6';
const IMG = '46ebc6946f7c4a10922bf1f539cd7351ce8670781e081d18babf1affdef6f577';

export const TABLE: CommandSpec[] = [
  {
    command: 'login [user] [password]',
    describe: 'Log in and save the token where upstream tml keeps it',
    positionals: {
      user: { type: 'string', describe: 'user name or e-mail (else TML_USER, else asked)' },
      password: { type: 'string', describe: 'password (else --password-stdin, TML_PASSWORD, or asked without echo)' },
    },
    options: {
      'password-stdin': { type: 'boolean', describe: 'read the password from the first line of stdin' },
      device: { type: 'boolean', describe: 'no password: approve a code on the web console (RFC 8628 device login)' },
    },
    examples: [
      ['$0 login alice', 'asks for the password without echo'],
      ['$0 login alice --password-stdin < password.txt', 'in a script'],
      ['$0 login --device', 'prints a URL and a code to approve in a browser, then waits for the token'],
    ],
    exits: [
      [0, 'logged in; the token is in $XDG_DATA_HOME/treadmill-tb/token.json (0600)'],
      [1, 'wrong user or password, a device code denied or expired, or the switchboard failed'],
      [2, 'usage error: no user or password and no terminal to ask on'],
    ],
    run: auth.login,
  },
  {
    command: 'logout',
    describe: 'Forget the saved token',
    examples: [['$0 logout', 'removes token.json']],
    exits: [
      [0, 'done (also when there was no token)'],
      [2, 'usage error'],
    ],
    run: auth.logout,
  },
  {
    command: 'whoami',
    describe: 'Show the switchboard, the token in use and whether the switchboard accepts it',
    examples: [['$0 whoami', 'user, token source, expiry, accepted or not']],
    exits: [
      [0, 'the switchboard accepts the token'],
      [1, 'no token, or the switchboard refuses it, or cannot be reached'],
      [2, 'usage error'],
    ],
    run: auth.whoami,
  },
  {
    command: 'job',
    describe: 'Enqueue, run, follow, wait for and cancel jobs',
    subcommands: [
      {
        command: 'enqueue <image>',
        describe: 'Enqueue a job; prints {"job_id": "..."}',
        positionals: IMAGE,
        options: ENQUEUE_OPTIONS,
        examples: [
          [
            `$0 job enqueue ${IMG.slice(0, 8)}... --tag-config board:nrf52840dk`,
            'a job for any supervisor with that tag',
          ],
          ['$0 job enqueue IMAGE --parameters-file - < secrets.json | jq -r .job_id', 'secrets on stdin'],
        ],
        exits: [...COMMON_EXITS, [7, 'SupervisorMatchError: no registered supervisor could ever run the job']],
        run: job.enqueue,
      },
      {
        command: 'run <image>',
        describe: 'Enqueue a job, stream its console, exit with its outcome (mq run)',
        positionals: IMAGE,
        options: { ...ENQUEUE_OPTIONS, ...RUN_OPTIONS },
        examples: [
          [
            "$0 job run IMAGE -s rpi-1 --completion-text 'All tests passed' -e FAIL -d 10m -l run.log",
            'mq run -s rpi-1 -c ... -e FAIL -d 600 -l run.log',
          ],
          ["$0 job run IMAGE -s rpi-1 --completion-text 'login:' --keep-alive", 'mq run -a: then type on the console'],
        ],
        exits: [
          ...OUTCOME_EXIT_DOCS,
          [13, '--completion-timeout elapsed; the job was canceled'],
          [130, 'interrupted (Ctrl-C); the job was canceled'],
        ],
        run: job.run,
      },
      {
        command: 'status <id>',
        describe: "Show a job's state and exit status",
        positionals: JOB_ID,
        examples: [[`$0 job status ${ID}`, "--json: the API's JobStatus"]],
        exits: COMMON_EXITS,
        run: job.status,
      },
      {
        command: 'list',
        describe: 'List your jobs (an admin: all), newest first',
        options: {
          limit: { type: 'string', requiresArg: true, describe: 'at most this many (1 to 10000, default 200)' },
          cursor: { type: 'string', requiresArg: true, describe: 'continue where an earlier listing stopped' },
          all: { type: 'boolean', describe: 'every page, not only the first' },
          state: {
            type: 'string',
            requiresArg: true,
            describe: 'only jobs in this state (queued, ready, terminated, ...)',
          },
          'exit-status': {
            type: 'string',
            requiresArg: true,
            describe: 'only jobs that ended so (JobCanceled or job_canceled, ...)',
          },
          tag: { type: 'string', requiresArg: true, describe: 'only jobs that asked for this tag' },
          supervisor: { type: 'string', requiresArg: true, describe: 'only jobs on this supervisor (name or id)' },
          since: {
            type: 'string',
            requiresArg: true,
            describe: 'only jobs queued since (RFC 3339, or 2h for 2 hours ago)',
          },
          ...LIST_OPTIONS,
        },
        examples: [
          ['$0 job list --state terminated --exit-status WorkloadFinishedError --since 1d', 'failures of the last day'],
        ],
        exits: COMMON_EXITS,
        run: job.list,
      },
      {
        command: 'cancel <id>',
        describe: 'Cancel a job',
        positionals: JOB_ID,
        examples: [[`$0 job cancel ${ID}`, '']],
        exits: COMMON_EXITS,
        run: job.cancel,
      },
      {
        command: 'logs <id>',
        describe: "Print a job's console output",
        positionals: JOB_ID,
        options: {
          follow: {
            alias: 'f',
            type: 'boolean',
            describe: 'keep printing until the job ends (rides out a switchboard restart)',
          },
        },
        examples: [[`$0 job logs -f ${ID}`, 'follow the console']],
        exits: COMMON_EXITS,
        run: job.logs,
      },
      {
        command: 'events <id>',
        describe: 'Show every state change, sub-state and exit status of a job',
        positionals: JOB_ID,
        options: {
          follow: { alias: 'f', type: 'boolean', describe: 'keep printing new events until the job ends' },
          ...LIST_OPTIONS,
        },
        examples: [[`$0 job events --follow ${ID}`, 'watch it go']],
        exits: COMMON_EXITS,
        run: job.events,
      },
      {
        command: 'wait <id>',
        describe: 'Wait until a job terminates; the exit code tells how it ended',
        positionals: JOB_ID,
        options: { timeout: { type: 'string', requiresArg: true, describe: 'give up after this long (exit 11)' } },
        examples: [[`$0 job wait ${ID} --timeout 1h`, '']],
        exits: [...OUTCOME_EXIT_DOCS, [11, '--timeout elapsed while the job was still running']],
        run: job.wait,
      },
      {
        command: 'ssh <id>',
        describe: "SSH into a job's host, as upstream tml (arguments after -- go to ssh)",
        positionals: JOB_ID,
        examples: [[`$0 job ssh ${ID} -- uname -a`, '']],
        exits: [
          [0, 'ssh exited 0'],
          [1, 'no SSH endpoint for the job, or the request failed'],
          [2, 'usage error'],
          [255, "ssh's own failure; any other code is the remote command's"],
        ],
        run: job.ssh,
      },
      {
        command: 'open <id>',
        describe: "Print the job's web console page (and open it in a browser when run at a terminal)",
        positionals: JOB_ID,
        examples: [[`$0 job open ${ID}`, 'prints https://SWITCHBOARD/jobs/ID; xdg-open shows it']],
        exits: [
          [0, 'the URL printed'],
          [2, 'usage error: not a job id'],
        ],
        run: open,
      },
      {
        command: 'reserve <image>',
        describe: 'Get a host for an interactive session until a time limit (mq run -r); prints how to reach it',
        positionals: IMAGE,
        options: {
          ...RESERVE_OPTIONS,
          time: {
            type: 'string',
            requiresArg: true,
            demandOption: true,
            describe: 'how long the session may last, e.g. 2h (the job time-out)',
          },
        },
        examples: [['$0 job reserve IMAGE -s rpi-1 --time 2h', 'then tml job ssh ID or tml job console ID']],
        exits: [
          [0, 'the host is up: its job id and how to reach it are on stdout'],
          [1, "the job ended before its host was up: the code is its outcome's (see tml job wait)"],
          [2, 'usage error'],
          [7, 'SupervisorMatchError: no registered supervisor could ever run the job'],
          [12, 'the switchboard was unreachable for too long, or refused a request'],
          [130, 'interrupted (Ctrl-C) before the host was up; the job was canceled'],
        ],
        run: interactive.reserve,
      },
      {
        command: 'console <id>',
        describe: "Attach to a running job's console, read-write; Ctrl-] detaches (the job goes on)",
        positionals: JOB_ID,
        options: { all: { type: 'boolean', describe: 'print the stored console first (default: from now on)' } },
        examples: [[`$0 job console ${ID}`, 'what you type reaches the host (its serial port or stdin)']],
        exits: [
          [0, 'detached (Ctrl-] or the end of input); the job goes on'],
          [1, "the job ended while attached (or had ended): the code is its outcome's (see tml job wait)"],
          [2, 'usage error'],
          [12, 'the switchboard was unreachable for too long, or refused a request'],
        ],
        run: interactive.consoleCommand,
      },
    ],
  },
  {
    command: 'supervisor',
    describe: 'Supervisors: list them and their pools, see who holds one, wait for one, release one',
    subcommands: [
      {
        command: 'list',
        describe: 'List supervisors with status, holder and tags (mq systems, system-tsv)',
        options: {
          work: { choices: ['idle', 'busy'], describe: 'only idle (and disconnected) or only busy ones' },
          conn: { choices: ['connected', 'disconnected'], describe: 'only connected or only disconnected ones' },
          ...LIST_OPTIONS,
        },
        examples: [['$0 supervisor list --tsv --no-header', 'as mq system-tsv']],
        exits: COMMON_EXITS,
        run: sup.list,
      },
      {
        command: 'status <supervisor>',
        describe: "Show a supervisor's status: its job, who holds it and since when (mq sem -info)",
        positionals: SUPERVISOR_REF,
        examples: [['$0 supervisor status rpi-1', '']],
        exits: COMMON_EXITS,
        run: sup.status,
      },
      {
        command: 'pools',
        describe: 'List the tags (pools) and how many of their supervisors are idle, busy, disconnected (mq pool-tsv)',
        options: LIST_OPTIONS,
        examples: [['$0 supervisor pools --tsv', '']],
        exits: COMMON_EXITS,
        run: sup.poolsCommand,
      },
      {
        command: 'wait <supervisor>',
        describe: 'Wait until a supervisor is idle (mq sem -wait, without taking a lock)',
        positionals: SUPERVISOR_REF,
        options: { timeout: { type: 'string', requiresArg: true, describe: 'give up after this long (exit 11)' } },
        examples: [['$0 supervisor wait rpi-1 --timeout 30m', '']],
        exits: [
          [0, 'the supervisor is idle'],
          [2, 'usage error'],
          [11, '--timeout elapsed first'],
          [12, 'the switchboard was unreachable for too long, or refused a request'],
        ],
        run: sup.wait,
      },
      {
        command: 'release <supervisor>',
        describe: "Cancel the job holding a supervisor (an admin: anyone's), as mq sem -signal -f",
        positionals: SUPERVISOR_REF,
        examples: [['$0 supervisor release rpi-1', '']],
        exits: COMMON_EXITS,
        run: sup.release,
      },
    ],
  },
  {
    command: 'completion [shell]',
    describe: 'Print a completion script for bash or zsh',
    positionals: { shell: { choices: ['bash', 'zsh'], describe: 'bash or zsh (default: from $SHELL)' } },
    examples: [
      ['source <($0 completion bash)', 'in ~/.bashrc'],
      ['$0 completion zsh > "${fpath[1]}/_tml"', 'for zsh'],
    ],
    exits: [
      [0, 'printed'],
      [2, 'usage error: no shell given and $SHELL is neither bash nor zsh'],
    ],
    run: completion,
  },
];

async function completion(argv: Args): Promise<void> {
  const shell = str(argv, 'shell') ?? basename(process.env.SHELL ?? '');
  if (shell !== 'bash' && shell !== 'zsh') {
    throw new UsageError(
      `give the shell: tml completion bash, or tml completion zsh ($SHELL is "${process.env.SHELL ?? ''}")`,
    );
  }
  out(completionScript(shell, TABLE, GLOBAL_OPTIONS));
}
