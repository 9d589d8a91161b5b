// Every runnable command of a command table, as the words that name it, with its spec.

import { commandName } from '../../tml/command-name.js';
import type { CommandSpec } from '../../tml/commands.js';

export function leaves(specs: CommandSpec[], path: string[] = []): Array<[string[], CommandSpec]> {
  return specs.flatMap((s) => {
    const here = [...path, commandName(s)];
    return s.subcommands ? leaves(s.subcommands, here) : [[here, s] as [string[], CommandSpec]];
  });
}
