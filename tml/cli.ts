#!/usr/bin/env node
// tml: the Treadmill user's client. The commands are in commands.ts, their manual in docs/tml.md.
// Failures follow protocol/cli.ts (usage 2, runtime 1); `job wait` and `job run` exit with the
// job's outcome (outcome.ts).

import { ExitWith, runCli } from '../protocol/cli.js';
import { stdoutIsPipe } from '../protocol/stdout.js';
import { GLOBAL_OPTIONS, runCommand, TABLE } from './commands.js';
import { ConfigError } from './config-file.js';
import { failureText } from './context.js';
import { ApiError } from './errors.js';
import { plainCommand } from './plain-args.js';

// `tml job logs ID | head` closes stdout early: that is not an error. Only a pipe's reader can
// (elsewhere the listener would create process.stdout for nothing: protocol/stdout.ts).
if (stdoutIsPipe()) {
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
}

runCli('tml', async () => {
  const words = process.argv.slice(2);
  try {
    // A plain line (words and positionals, the way scripts call tml) needs no parser.
    const plain = plainCommand(words, TABLE, GLOBAL_OPTIONS);
    if (plain) await runCommand(plain.spec, plain.argv);
    else await (await import('./parser.js')).buildParser(words).parseAsync();
  } catch (err) {
    // A TOML syntax error keeps the parser's lines with the caret under the one-line reason.
    if (err instanceof ConfigError && err.context) {
      process.stderr.write(`tml: ${err.message}\n${err.context}\n`);
      throw new ExitWith(2);
    }
    if (err instanceof ApiError) throw new Error(failureText(err));
    throw err;
  }
});
