#!/usr/bin/env node
// tml-supervisor: connects to a switchboard and runs its jobs, one at a time, on a host backend.
// Settings come from flags, or from upstream's supervisor TOML (--config); flags win.

import { readFileSync, statSync } from 'node:fs';
import yargs, { type Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { canonicalSupervisorToken } from '../protocol/switchboard-ws.js';
import { ConfigError, loadSupervisorConfig, type ConfigTable, type SupervisorConfig } from './config.js';
import type { HostBackend } from './hosts/host.js';
import { findPuppet } from './hosts/puppet-command.js';
import { QEMU_FLAGS, qemuConfigFromFlags } from './hosts/qemu/flags.js';
import { ExitWith, runCli, typingMistake, UsageError } from '../protocol/cli.js';
import { completionArgs, completionFromHelp, teach } from '../protocol/cli-help.js';
import { isUuid } from '../protocol/validation.js';
import { createLogger, isLogLevel, LOG_FORMATS, LOG_LEVELS, type LogFormat, type Logger } from '../protocol/log.js';
import type { Supervisor } from './supervisor.js';

interface HostContext {
  /** The backend's section of the config file, when it has one and the file holds it. */
  section: ConfigTable | undefined;
  argv: Record<string, unknown>;
  log: Logger;
}

/** Host backends: each may own a section of the config file, which only its own parser reads. */
const HOSTS: Record<string, { section?: string; create(ctx: HostContext): Promise<HostBackend> }> = {
  local: {
    create: async (ctx) => {
      const { LocalHostBackend } = await import('./hosts/local.js');
      return new LocalHostBackend({ puppet: findPuppet(ctx.argv['puppet'] as string | undefined), log: ctx.log });
    },
  },
  qemu: {
    section: 'qemu',
    create: async (ctx) => {
      const { QemuHostBackend } = await import('./hosts/qemu/backend.js');
      const host = new QemuHostBackend({
        config: qemuConfigFromFlags(ctx.argv, process.env, ctx.section),
        log: ctx.log,
      });
      // Probing the accelerator boots a guest: start it now, so the first job does not wait for it.
      void host.accelerator();
      return host;
    },
  },
};

const HOST_SECTIONS = Object.values(HOSTS).flatMap((h) => (h.section === undefined ? [] : [h.section]));

function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version?: string;
    };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** A token as given on the command line; a 128-byte one is sent as upstream sends it (padded). */
function flagToken(token: string): string {
  return canonicalSupervisorToken(token) ?? token;
}

const MANUAL = 'supervisor.md';

/** What `completion` printed, when that was the command: the supervisor then does not start. */
let completion: Promise<void> | null = null;

const HELP = {
  examples: [
    [
      '$0 --switchboard http://127.0.0.1:8080 --id UUID --store STORE',
      'a local host; the token in $TML_SUPERVISOR_TOKEN',
    ],
    [
      '$0 --switchboard http://sb-1:8080 --switchboard http://sb-2:8080 --id UUID --store STORE',
      'two replicas of one switchboard: on failure the supervisor moves to the other',
    ],
    ['$0 --config supervisor.toml --host qemu', "upstream's configuration file, QEMU hosts"],
  ] as Array<[string, string]>,
  exits: [
    [0, 'stopped by SIGTERM or SIGINT, after ending the job it ran'],
    [
      1,
      'a runtime failure, or the switchboard (every --switchboard URL) refused this supervisor for good (one line naming the cause)',
    ],
    [2, 'usage error: a bad flag, a missing setting, a bad config file or id (one line on stderr)'],
    [130, 'a second signal: stopped at once'],
  ] as Array<[number, string]>,
  manual: MANUAL,
};

function parser(args: string[]) {
  return teach(yargs(args), HELP)
    .scriptName('tml-supervisor')
    .usage(
      '$0 [--config FILE] [--switchboard URL... --id ID --store DIR] [options]\n\nRuns jobs from a Treadmill switchboard, one at a time.',
    )
    .option('config', {
      alias: ['c', 'config-file'],
      type: 'string',
      describe: "upstream's supervisor TOML ([base], [ws_connector], [image_store]); flags override it",
    })
    .option('switchboard', {
      type: 'string',
      array: true,
      describe:
        'switchboard base URL, e.g. http://127.0.0.1:8080; repeatable (or comma-separated) for replicas, tried in turn',
    })
    .option('id', { type: 'string', describe: "this supervisor's UUID (from `tml-switchboard supervisor add`)" })
    .option('token', {
      type: 'string',
      describe: 'supervisor token; default $TML_SUPERVISOR_TOKEN (preferred: not visible in ps), then the config file',
    })
    .option('store', { type: 'string', describe: 'image store to run images from' })
    .option('host', { type: 'string', choices: Object.keys(HOSTS), default: 'local', describe: 'host backend' })
    .options(QEMU_FLAGS)
    .option('work-dir', { type: 'string', describe: 'directory for job directories (default: a temporary directory)' })
    .option('puppet', {
      type: 'string',
      describe: 'tml-puppet to run in local hosts (default: the bundle dist/tml-puppet.mjs)',
    })
    .option('image-mirror', {
      type: 'string',
      array: true,
      default: [] as string[],
      describe: 'pull images missing from --store from this mirror (http(s)://HOST/PATH; repeatable, tried in order)',
    })
    .option('log-level', {
      type: 'string',
      choices: LOG_LEVELS,
      default: 'info',
      describe: 'least severe level logged (stderr)',
    })
    .option('log-format', {
      type: 'string',
      choices: LOG_FORMATS,
      default: 'text',
      describe: 'text lines, or json (one object per line) for log collectors',
    })
    .command(
      'completion [shell]',
      'print a completion script for bash or zsh (and do not start)',
      (y) => completionArgs(y, 'tml-supervisor', MANUAL),
      (argv) => {
        completion = completionFromHelp('tml-supervisor', argv.shell, parser as (w: string[]) => Argv).then(
          (script) => {
            process.stdout.write(script);
          },
        );
      },
    )
    .strict()
    .version(version())
    .help()
    .fail((msg, err) => {
      throw new UsageError(err?.message ?? typingMistake(msg, args));
    });
}

async function main(): Promise<number> {
  const argv = await parser(hideBin(process.argv)).parse();
  if (completion !== null) {
    await completion;
    return 0;
  }

  // What only a running supervisor needs (the HTTP and WebSocket clients, the image library, the
  // hosts) is loaded once the command line is read, so that --help and --version start fast.
  const [{ connectUrl }, { parseImageMirrors }, { startSupervisor }] = await Promise.all([
    import('./switchboard-connection.js'),
    import('./image-fetch.js'),
    import('./supervisor.js'),
  ]);
  const logLevel = argv['log-level'];
  if (!isLogLevel(logLevel)) throw new UsageError(`invalid --log-level ${logLevel}`);
  const log = createLogger({ level: logLevel, format: argv['log-format'] as LogFormat });

  let file: SupervisorConfig = { hostSections: {}, notes: [] };
  if (argv.config !== undefined) {
    try {
      file = await loadSupervisorConfig(argv.config, HOST_SECTIONS);
    } catch (err) {
      if (err instanceof ConfigError) throw new UsageError(`--config: ${err.message}`);
      throw err;
    }
    for (const note of file.notes) log.info(note);
  }
  const fromFile = argv.config === undefined ? '' : ` or set it in ${argv.config}`;

  const flagUrls = (argv.switchboard ?? []).flatMap((v) => v.split(',')).map((v) => v.trim());
  const switchboard = flagUrls.length > 0 ? flagUrls.filter((v) => v !== '') : file.switchboardUrls;
  if (switchboard === undefined || switchboard.length === 0) {
    throw new UsageError(`no switchboard: pass --switchboard URL${fromFile} ([ws_connector] switchboard_uri)`);
  }
  const id = (argv.id ?? file.supervisorId)?.toLowerCase();
  if (id === undefined) throw new UsageError(`no supervisor id: pass --id UUID${fromFile} ([base] supervisor_id)`);
  if (!isUuid(id)) throw new UsageError(`--id: ${JSON.stringify(id)} is not a UUID`);
  const given = argv.token ?? process.env.TML_SUPERVISOR_TOKEN;
  const token = given !== undefined && given !== '' ? flagToken(given) : file.token;
  if (token === undefined) {
    throw new UsageError(
      `no supervisor token: pass --token or set TML_SUPERVISOR_TOKEN${fromFile ? `${fromFile} ([ws_connector] token or token_file)` : ''}`,
    );
  }
  const store = argv.store ?? file.storeDir;
  if (store === undefined)
    throw new UsageError(`no image store: pass --store DIR${fromFile} ([image_store] fs_endpoint)`);
  let storeIsDir = false;
  try {
    storeIsDir = statSync(store).isDirectory();
  } catch {
    // reported below
  }
  if (!storeIsDir) throw new UsageError(`image store ${store} is not a directory`);
  try {
    for (const url of switchboard) connectUrl(url, id);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }

  const choice = HOSTS[argv.host]!;
  for (const [name, backend] of Object.entries(HOSTS)) {
    if (name !== argv.host && backend.section !== undefined && file.hostSections[backend.section] !== undefined) {
      log.info(`${argv.config}: [${backend.section}] is used only with --host ${name}; ignored`);
    }
  }
  let host: HostBackend;
  try {
    host = await choice.create({
      section: choice.section === undefined ? undefined : file.hostSections[choice.section],
      argv,
      log,
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }

  const mirrorUrls =
    argv['image-mirror'].length > 0 || file.imageMirror === undefined ? argv['image-mirror'] : [file.imageMirror];
  let imageMirrors: string[];
  try {
    imageMirrors = parseImageMirrors(mirrorUrls);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }

  // Runs until a signal stops it (exit 0) or the switchboard refuses it for good (exit 1).
  let fatal: (err: Error) => void = () => {};
  const refused = new Promise<never>((_, reject) => (fatal = reject));
  const supervisor: Supervisor = await startSupervisor({
    switchboardUrl: switchboard,
    supervisorId: id,
    token,
    storeDir: store,
    workDir: argv['work-dir'],
    host,
    imageMirrors,
    log,
    onFatal: (err) => fatal(err),
  });
  log.info(`supervisor ${id} started (host ${argv.host}, store ${store})`);

  const stopped = new Promise<number>((resolve, reject) => {
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals) => {
      if (++signals > 1) reject(new ExitWith(130));
      log.info(`${signal}: stopping`);
      supervisor.close().then(
        () => resolve(0),
        (err: unknown) => reject(new Error(`shutdown failed: ${(err as Error).message}`)),
      );
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
  try {
    return await Promise.race([stopped, refused]);
  } catch (err) {
    if (!(err instanceof ExitWith)) await supervisor.close().catch(() => {});
    throw err;
  }
}

runCli('tml-supervisor', main);
