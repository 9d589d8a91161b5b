// The command lines that need no parser: a command's words, then its positionals, and no flag.
// That is how scripts call `tml job status ID` in a loop, and loading and running yargs is most of
// what such a call costs beyond Node's own start-up. For these lines this module gives the handler
// the arguments yargs would give it (test/tml/plain-args.test.ts holds the two to each other);
// any other line, and any line yargs would refuse, goes to yargs for its full handling.

import { commandName } from './command-name.js';
import type { CommandSpec, OptionSpec } from './commands.js';
import type { Args } from './context.js';

/** The command a plain line runs, and its arguments. */
export interface PlainCommand {
  spec: CommandSpec;
  argv: Args;
}

/** `<name>` and `[name]` in a command string; null for a variadic one (`[name..]`), which yargs makes an array. */
function positionalNames(command: string): { required: string[]; optional: string[] } | null {
  const required: string[] = [];
  const optional: string[] = [];
  for (const token of command.split(' ').slice(1)) {
    const m = /^(?:<([\w-]+)>|\[([\w-]+)\])$/.exec(token);
    if (!m) return null;
    if (m[1] !== undefined) required.push(m[1]);
    else optional.push(m[2]!);
  }
  return { required, optional };
}

/** Whether yargs would hand over the word as it is: a string with no choices or conversion. */
function takenAsIs(spec: CommandSpec, name: string): boolean {
  const p = spec.positionals?.[name];
  return p !== undefined && p.type === 'string' && !p.choices && !p.coerce && !p.array && p.default === undefined;
}

/** The options' defaults, which yargs sets for a flag not given. */
function defaults(options: Record<string, OptionSpec> | undefined): Args {
  return Object.fromEntries(
    Object.entries(options ?? {}).flatMap(([name, o]) => (o.default === undefined ? [] : [[name, o.default]])),
  );
}

/**
 * The command and arguments of `words` when they are command words and positionals only, none
 * starting with "-"; else null. `globals` are the options every command has.
 */
export function plainCommand(
  words: string[],
  table: CommandSpec[],
  globals: Record<string, OptionSpec>,
): PlainCommand | null {
  if (words.some((w) => w.startsWith('-'))) return null;
  let specs = table;
  for (let i = 0; i < words.length; i++) {
    const spec = specs.find((s) => commandName(s) === words[i]);
    if (!spec) return null;
    if (spec.subcommands) {
      specs = spec.subcommands;
      continue;
    }
    if (!spec.run) return null;
    const names = positionalNames(spec.command);
    if (!names) return null;
    const given = words.slice(i + 1);
    const all = [...names.required, ...names.optional];
    if (given.length < names.required.length || given.length > all.length) return null;
    if (!all.every((n) => takenAsIs(spec, n))) return null;
    // a flag that must be given is missing: yargs says so
    if (Object.values({ ...globals, ...spec.options }).some((o) => o.demandOption)) return null;
    const argv: Args = {
      _: words.slice(0, i + 1),
      ...defaults(globals),
      ...defaults(spec.options),
      ...Object.fromEntries(given.map((w, k) => [all[k]!, w])),
    };
    return { spec, argv };
  }
  return null;
}
