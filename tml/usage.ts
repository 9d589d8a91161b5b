// yargs' failure messages, said for a user: an unknown command with the nearest known one, an
// unknown flag once (not `tag-confg, tagConfg`) with the nearest flag of that command, a missing
// argument with the command's usage. Pure: the table, the words typed and yargs' message in.

import { commandName } from './command-name.js';
import type { CommandSpec, OptionSpec } from './commands.js';

/** Edit distance with transpositions (optimal string alignment): `jbo` is one step from `job`. */
export function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
      }
    }
  }
  return d[a.length]![b.length]!;
}

/** The nearest of `known` to `word`, when it is near enough to be a typo. */
export function nearest(word: string, known: string[]): string | null {
  let best: string | null = null;
  let bestD = Infinity;
  for (const k of known) {
    const d = distance(word, k);
    if (d < bestD) [best, bestD] = [k, d];
  }
  return best !== null && bestD <= Math.max(1, Math.floor(word.length / 3)) ? best : null;
}

function optionNames(options: Record<string, OptionSpec> | undefined): Map<string, OptionSpec> {
  const names = new Map<string, OptionSpec>();
  for (const [name, o] of Object.entries(options ?? {})) {
    names.set(name, o);
    const aliases = o.alias === undefined ? [] : Array.isArray(o.alias) ? o.alias : [o.alias];
    for (const a of aliases) names.set(a, o);
  }
  return names;
}

export interface Located {
  /** The command words recognised: ['job', 'enqueue']. */
  path: string[];
  spec: CommandSpec | null;
  /** A word where a command was expected that names none. */
  unknownCommand: string | null;
  /** The commands that could stand there. */
  choices: string[];
}

/** Walks the words typed along the table, skipping flags and their values. */
export function locate(table: CommandSpec[], globals: Record<string, OptionSpec>, words: string[]): Located {
  const path: string[] = [];
  let specs: CommandSpec[] | undefined = table;
  let spec: CommandSpec | null = null;
  const takesValue = (flag: string) => {
    const name = flag.replace(/^-+/, '');
    const o = optionNames({ ...globals, ...(spec?.options ?? {}) }).get(name);
    return o !== undefined && o.type !== 'boolean';
  };
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    if (w === '--') break;
    if (w.startsWith('-') && w !== '-') {
      if (!w.includes('=') && takesValue(w)) i++;
      continue;
    }
    if (!specs) break;
    const found: CommandSpec | undefined = specs.find((s) => commandName(s) === w);
    if (!found) return { path, spec, unknownCommand: w, choices: specs.map(commandName) };
    path.push(w);
    spec = found;
    specs = found.subcommands;
  }
  return { path, spec, unknownCommand: null, choices: specs?.map(commandName) ?? [] };
}

/** The message of a usage failure from yargs, rewritten where we can say more. */
export function usageMessage(
  message: string,
  table: CommandSpec[],
  globals: Record<string, OptionSpec>,
  words: string[],
): string {
  const where = locate(table, globals, words);
  const prefix = ['tml', ...where.path].join(' ');
  if (/^Did you mean /.test(message) || (where.unknownCommand !== null && /^Unknown argument/.test(message))) {
    if (where.unknownCommand !== null) {
      const guess = nearest(where.unknownCommand, where.choices);
      return `unknown command "${where.unknownCommand}" for ${prefix}${guess ? ` (did you mean ${guess}?)` : ''}; commands: ${where.choices.join(', ')}`;
    }
  }
  const unknown = /^Unknown arguments?: (.*)$/.exec(message);
  if (unknown) {
    const names = unknown[1]!.split(', ');
    const flags = names.filter((n) => words.some((w) => w === `--${n}` || w.startsWith(`--${n}=`) || w === `-${n}`));
    if (flags.length) {
      const known = [...optionNames({ ...globals, ...(where.spec?.options ?? {}) }).keys()].filter((k) => k.length > 1);
      return flags
        .map((f) => {
          const guess = f.length > 1 ? nearest(f, known) : null;
          return `unknown option ${f.length === 1 ? '-' : '--'}${f} for ${prefix}${guess ? ` (did you mean --${guess}?)` : ''}`;
        })
        .join('; ');
    }
    return `unexpected argument${names.length > 1 ? 's' : ''} ${names.map((n) => `"${n}"`).join(', ')} for ${prefix}`;
  }
  const missing = /^Not enough non-option arguments: got (\d+), need at least (\d+)$/.exec(message);
  if (missing && where.spec) {
    if (where.spec.subcommands) {
      return `give a command: ${prefix} ${where.spec.subcommands.map(commandName).join('|')} (see ${prefix} --help)`;
    }
    return `missing arguments: ${['tml', ...where.path.slice(0, -1), where.spec.command].join(' ')}`;
  }
  const noValue = /^Not enough arguments following: (.*)$/.exec(message);
  if (noValue) return `${noValue[1]!.length === 1 ? '-' : '--'}${noValue[1]} needs a value (see ${prefix} --help)`;
  const choice = /^Invalid values:\s+Argument: (\S+), Given: (.*), Choices: (.*)$/s.exec(message.trim());
  if (choice) {
    const [, name, given, choices] = choice;
    const what = where.spec?.positionals?.[name!] ? name : `--${name}`;
    return `${what} must be one of ${choices!.replace(/"/g, '')}, got ${given}`;
  }
  const missingOpt = /^Missing required argument: (.*)$/.exec(message);
  if (missingOpt && where.spec)
    return `missing ${missingOpt[1]}: ${['tml', ...where.path.slice(0, -1), where.spec.command].join(' ')}`;
  return message;
}
