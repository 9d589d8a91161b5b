// The yargs parser built from the command table: strict (an unknown command or flag is a usage
// error, said by usage.ts), one spelling of each flag, and a help page per command with every
// flag described, an example, its exit codes and where the manual is.

import yargs, { type Argv } from 'yargs';
import { UsageError } from '../protocol/cli.js';
import { exitsText, manualPath as manualOf } from '../protocol/cli-help.js';
import { commandName } from './command-name.js';
import { GLOBAL_OPTIONS, runCommand, TABLE, type CommandSpec } from './commands.js';
import type { Args } from './context.js';
import { usageMessage } from './usage.js';
import { version } from './version.js';

/** Where the manual is: docs/tml.md of this checkout or package. */
export const manualPath = (): string => manualOf('tml.md');

const ROOT_EPILOGUE = `Settings, first found wins:
  switchboard  -u/--api-url, TML_SWITCHBOARD_URL, the profile's [api] url, the file's [api] url, https://swb.treadmill.ci
  token        TML_API_TOKEN, the token file tml login wrote ($XDG_DATA_HOME/treadmill-tb/token.json)
  profile      --profile, TML_PROFILE, profile = "..." in the configuration file`;

function register(y: Argv, spec: CommandSpec, path: string[]): void {
  const name = commandName(spec);
  const here = [...path, name];
  y.command(
    spec.command,
    spec.describe,
    (yy) => {
      for (const [p, o] of Object.entries(spec.positionals ?? {})) yy.positional(p, o);
      for (const [o, opt] of Object.entries(spec.options ?? {})) yy.option(o, opt);
      if (spec.options) yy.group(Object.keys(spec.options), 'Options:');
      yy.group([...Object.keys(GLOBAL_OPTIONS), 'help', 'version'], 'Global options:');
      for (const [cmd, what] of spec.examples ?? []) yy.example(cmd, what);
      const epilogue = [spec.exits ? exitsText(spec.exits) : null, `Manual: ${manualPath()}`].filter(Boolean);
      yy.epilogue(epilogue.join('\n\n'));
      if (spec.subcommands) {
        for (const sub of spec.subcommands) register(yy, sub, here);
        yy.demandCommand(1, `give a ${name} command: ${spec.subcommands.map(commandName).join(', ')}`);
      }
      return yy;
    },
    spec.run ? (argv) => runCommand(spec, argv as Args) : undefined,
  );
}

/** The parser for `words` (the arguments after the program), over the command table. */
export function buildParser(words: string[], table: CommandSpec[] = TABLE): Argv {
  const y = yargs(words)
    .scriptName('tml')
    .parserConfiguration({ 'camel-case-expansion': false, 'strip-aliased': true, 'populate--': true })
    .usage('$0 <command>\n\nThe Treadmill client: log in, enqueue and run jobs, follow them, find supervisors.');
  for (const [name, o] of Object.entries(GLOBAL_OPTIONS)) y.option(name, { ...o, global: true });
  for (const spec of table) register(y, spec, []);
  return y
    .demandCommand(1, `give a command: ${table.map(commandName).join(', ')}`)
    .strict()
    .version('version', 'show the version', `tml ${version()}`)
    .alias('version', 'V')
    .help('help', 'show help')
    .alias('help', 'h')
    .wrap(Math.min(110, y.terminalWidth()))
    .epilogue(`${ROOT_EPILOGUE}\n\nManual: ${manualPath()}`)
    .fail((message, err) => {
      // A command's own failure passes through; yargs' parse errors (YError) are usage errors.
      if (err && err.name !== 'YError') throw err;
      throw new UsageError(usageMessage(message ?? err?.message ?? 'bad command line', table, GLOBAL_OPTIONS, words));
    });
}
