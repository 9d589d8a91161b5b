// A command's name: the first word of its yargs command string (`status <id>` is `status`).

import type { CommandSpec } from './commands.js';

export const commandName = (spec: CommandSpec): string => spec.command.split(' ')[0]!;
