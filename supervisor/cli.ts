#!/usr/bin/env node
// tml-supervisor: connects to a switchboard and runs its jobs, one at a time, on a host backend.

import { statSync } from 'node:fs';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { LocalHostBackend } from './hosts/local.js';
import { findPuppet } from './hosts/puppet-command.js';
import { createLogger, isLogLevel, LOG_LEVELS } from './logger.js';
import { startSupervisor, type Supervisor } from './supervisor.js';

function fail(message: string): never {
  process.stderr.write(`tml-supervisor: ${message}\n`);
  process.exit(2);
}

async function main(): Promise<void> {
  const argv = await yargs(hideBin(process.argv))
    .scriptName('tml-supervisor')
    .usage(
      '$0 --switchboard URL --id ID --token TOKEN --store DIR [options]\n\nRuns jobs from a Treadmill switchboard, one at a time.',
    )
    .option('switchboard', {
      type: 'string',
      demandOption: true,
      describe: 'switchboard base URL, e.g. http://127.0.0.1:8080',
    })
    .option('id', {
      type: 'string',
      demandOption: true,
      describe: "this supervisor's id (from `tml-switchboard supervisor add`)",
    })
    .option('token', {
      type: 'string',
      describe: 'supervisor token; default $TML_SUPERVISOR_TOKEN (preferred: not visible in ps)',
    })
    .option('store', { type: 'string', demandOption: true, describe: 'image store to run images from' })
    .option('host', { type: 'string', choices: ['local'], default: 'local', describe: 'host backend' })
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
    .option('log-level', { type: 'string', choices: LOG_LEVELS, default: 'info' })
    .strict()
    .version(false)
    .help()
    .fail((msg, err) => fail(err?.message ?? msg))
    .parse();

  const token = argv.token ?? process.env.TML_SUPERVISOR_TOKEN;
  if (token === undefined || token === '') fail('no supervisor token: pass --token or set TML_SUPERVISOR_TOKEN');
  const logLevel = argv['log-level'];
  if (!isLogLevel(logLevel)) fail(`invalid --log-level ${logLevel}`);
  let storeIsDir = false;
  try {
    storeIsDir = statSync(argv.store).isDirectory();
  } catch {
    // reported below
  }
  if (!storeIsDir) fail(`image store ${argv.store} is not a directory`);

  const log = createLogger(logLevel);
  let puppet;
  try {
    puppet = findPuppet(argv.puppet);
  } catch (err) {
    fail((err as Error).message);
  }
  let supervisor: Supervisor | undefined;
  try {
    supervisor = await startSupervisor({
      switchboardUrl: argv.switchboard,
      supervisorId: argv.id,
      token,
      storeDir: argv.store,
      workDir: argv['work-dir'],
      host: new LocalHostBackend({ puppet, log }),
      imageMirrors: argv['image-mirror'],
      log,
      onFatal: (err) => {
        process.stderr.write(`tml-supervisor: ${err.message}\n`);
        void supervisor?.close().finally(() => process.exit(1));
      },
    });
  } catch (err) {
    fail((err as Error).message);
  }
  log('info', `supervisor ${argv.id} started (host ${argv.host}, store ${argv.store})`);

  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    if (++signals > 1) process.exit(130);
    log('info', `${signal}: stopping`);
    void (supervisor?.close() ?? Promise.resolve()).then(
      () => process.exit(0),
      (err: unknown) => {
        log('error', `shutdown failed: ${(err as Error).message}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

main().catch((err: unknown) => fail(err instanceof Error ? err.message : String(err)));
