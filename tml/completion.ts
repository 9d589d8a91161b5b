// Shell completion scripts for bash and zsh, written out from the command table: the commands at
// each level, then each command's flags. Static, so completing never runs tml. The scripts
// themselves are protocol/cli-help.ts's, shared with the other CLIs.

import { completionScript as generic, type Level } from '../protocol/cli-help.js';
import { commandName } from './command-name.js';
import type { CommandSpec, OptionSpec } from './commands.js';

function flagsOf(options: Record<string, OptionSpec> | undefined): Level['flags'] {
  const flags: Level['flags'] = [];
  for (const [name, o] of Object.entries(options ?? {})) {
    const aliases = o.alias === undefined ? [] : Array.isArray(o.alias) ? o.alias : [o.alias];
    for (const n of [name, ...aliases]) flags.push({ flag: n.length === 1 ? `-${n}` : `--${n}`, describe: o.describe });
    if (o.type === 'boolean' && o.default === true) flags.push({ flag: `--no-${name}`, describe: o.describe });
  }
  return flags;
}

/** Every level of the table, the root first. */
export function levels(table: CommandSpec[], globals: Record<string, OptionSpec>): Level[] {
  const help = { flag: '--help', describe: 'show help' };
  const out: Level[] = [
    {
      path: [],
      commands: table.map((c) => ({ name: commandName(c), describe: c.describe })),
      flags: [...flagsOf(globals), help, { flag: '--version', describe: 'show the version' }],
    },
  ];
  const walk = (specs: CommandSpec[], path: string[]) => {
    for (const spec of specs) {
      const here = [...path, commandName(spec)];
      out.push({
        path: here,
        commands: (spec.subcommands ?? []).map((c) => ({ name: commandName(c), describe: c.describe })),
        flags: [...flagsOf(spec.options), ...flagsOf(globals), help],
      });
      if (spec.subcommands) walk(spec.subcommands, here);
    }
  };
  walk(table, []);
  return out;
}

export function completionScript(
  shell: 'bash' | 'zsh',
  table: CommandSpec[],
  globals: Record<string, OptionSpec>,
): string {
  return generic('tml', shell, levels(table, globals));
}
