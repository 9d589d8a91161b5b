// Help that teaches, shared by the five CLIs: the "Exit codes:" and "Manual:" epilogue of a
// command's --help, its examples, and static bash and zsh completion scripts written from the
// commands and flags at each level. tml builds the levels from its command table; the other CLIs
// read them from their own --help pages (helpLevels), so help and completion cannot disagree.

import { existsSync } from 'node:fs';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Argv } from 'yargs';
import { UsageError } from './cli.js';

export type Exits = Array<[number | string, string]>;

/** The exit codes every CLI shares (docs/conventions.md); commands add their own. */
export const USAGE_EXIT: [number, string] = [2, 'usage error: a bad command, flag or argument (one line on stderr)'];

/** Where a CLI's manual is: docs/NAME.md of this checkout or package (dist/x/ and dist/bin/ alike). */
export function manualPath(page: string): string {
  const path = fileURLToPath(new URL(`../../docs/${page}`, import.meta.url));
  return existsSync(path) ? path : `docs/${page} of the treadmill-ts sources`;
}

export function exitsText(exits: Exits): string {
  const width = Math.max(3, ...exits.map(([code]) => String(code).length));
  return `Exit codes:\n${exits.map(([code, what]) => `  ${String(code).padStart(width)}  ${what}`).join('\n')}`;
}

export interface Teaching {
  examples: Array<[string, string]>;
  exits: Exits;
  /** The docs page, e.g. 'imagetool.md'. */
  manual: string;
}

/** Adds a command's examples, exit codes and manual line to its help. */
export function teach<T>(y: Argv<T>, { examples, exits, manual }: Teaching): Argv<T> {
  for (const [cmd, what] of examples) y.example(cmd, what);
  return y.epilogue(`${exitsText(exits)}\n\nManual: ${manualPath(manual)}`);
}

export interface Level {
  /** Words of the command path: [] for the program itself, ['job'], ['job', 'run']. */
  path: string[];
  commands: Array<{ name: string; describe: string }>;
  flags: Array<{ flag: string; describe: string }>;
}

/** The subcommands and flags a yargs --help page lists (descriptions on their first line). */
export function parseHelp(text: string, program: string, path: string[]): Omit<Level, 'path'> {
  const commands: Level['commands'] = [];
  const flags: Level['flags'] = [];
  const prefix = [program, ...path].join(' ') + ' ';
  let section = '';
  for (const line of text.split('\n')) {
    if (/^\S.*:$/.test(line)) {
      section = line;
      continue;
    }
    if (section === 'Commands:') {
      const m = /^ {2}(\S.*?)(?: {2,}(.*))?$/.exec(line);
      if (!m || !m[1]!.startsWith(prefix)) continue;
      const name = m[1]!.slice(prefix.length).split(' ')[0]!;
      commands.push({ name, describe: annotationsOff(m[2] ?? '') });
      continue;
    }
    if (section === 'Examples:' || section === 'Positionals:') continue;
    const m = /^ {2,6}((?:-\w, )*--[\w-]+(?:, --?[\w-]+)*)(?: {2,}(.*))?$/.exec(line);
    if (!m) continue;
    const describe = annotationsOff(m[2] ?? '');
    const names = m[1]!.split(', ');
    for (const flag of names) flags.push({ flag, describe });
    if (/\[boolean\]/.test(line) && /\[default: true\]/.test(line)) {
      flags.push({ flag: `--no-${names.at(-1)!.replace(/^--/, '')}`, describe });
    }
  }
  return { commands, flags };
}

/** A description without yargs' trailing [string] [default: ...] [required] notes. */
export function annotationsOff(text: string): string {
  return text.replace(/(\s*\[[^\]]*\])+\s*$/, '').trim();
}

/** Every level of a CLI, the program itself first, read from the --help of each command. */
export async function helpLevels(program: string, help: (words: string[]) => Promise<string>): Promise<Level[]> {
  const out: Level[] = [];
  const walk = async (path: string[]): Promise<void> => {
    const level = { path, ...parseHelp(await help([...path, '--help']), program, path) };
    out.push(level);
    for (const c of level.commands) await walk([...path, c.name]);
  };
  await walk([]);
  return out;
}

/** The --help page of `words` from a yargs parser, without printing or exiting. */
export function helpOf(parser: (words: string[]) => Argv, words: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    parser(words)
      .exitProcess(false)
      .wrap(null)
      .parse(words, {}, (err, _argv, output) => (err ? reject(err) : resolve(output)));
  });
}

/** The shell `<program> completion [shell]` is for: the argument, else $SHELL's name. */
export function completionShell(program: string, given: unknown): 'bash' | 'zsh' {
  const shell = typeof given === 'string' ? given : basename(process.env.SHELL ?? '');
  if (shell === 'bash' || shell === 'zsh') return shell;
  throw new UsageError(
    `give the shell: ${program} completion bash, or ${program} completion zsh ($SHELL is "${process.env.SHELL ?? ''}")`,
  );
}

/** The `completion [shell]` command's argument and help, the same for every CLI read from yargs. */
export function completionArgs<T>(y: Argv<T>, program: string, manual: string) {
  return teach(y, COMPLETION_HELP(program, manual)).positional('shell', {
    choices: ['bash', 'zsh'],
    describe: 'bash or zsh (default: from $SHELL)',
  });
}

/** The completion script of a CLI whose levels are read from its own --help pages. */
export async function completionFromHelp(
  program: string,
  shell: unknown,
  parser: (words: string[]) => Argv,
): Promise<string> {
  const which = completionShell(program, shell);
  return completionScript(program, which, await helpLevels(program, (w) => helpOf(parser, w)));
}

/** The completion command's help, the same for every CLI. */
export const COMPLETION_HELP = (program: string, manual: string): Teaching => ({
  examples: [
    [`source <(${program} completion bash)`, 'in ~/.bashrc'],
    [`${program} completion zsh > "\${fpath[1]}/_${program}"`, 'for zsh'],
  ],
  exits: [
    [0, 'printed'],
    [2, 'usage error: no shell given and $SHELL is neither bash nor zsh'],
  ],
  manual,
});

const shellWord = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

function bash(program: string, fn: string, all: Level[]): string {
  const paths = all.filter((l) => l.path.length).map((l) => `"${l.path.join(' ')}"`);
  const cases = all
    .map((l) => {
      const words = [...l.commands.map((c) => c.name), ...l.flags.map((f) => f.flag)].join(' ');
      return `    "${l.path.join(' ')}") words=${shellWord(words)} ;;`;
    })
    .join('\n');
  return `# bash completion for ${program} (generated by \`${program} completion bash\`).
# Use: source <(${program} completion bash), or save it as /etc/bash_completion.d/${program}
${fn}() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" path="" w i words=""
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    case "$w" in -*) continue ;; esac
    local next="\${path:+$path }$w"
    case "$next" in
      ${paths.length ? paths.join('|') : '""'}) path="$next" ;;
    esac
  done
  case "$path" in
${cases}
  esac
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -o default -F ${fn} ${program}
`;
}

function zsh(program: string, fn: string, all: Level[]): string {
  const esc = (s: string) => s.replace(/\\/g, '\\\\').replace(/:/g, '\\:');
  const paths = all.filter((l) => l.path.length).map((l) => `"${l.path.join(' ')}"`);
  const cases = all
    .map((l) => {
      const cmds = l.commands.map((c) => shellWord(`${esc(c.name)}:${esc(c.describe)}`)).join(' ');
      const flags = l.flags.map((f) => shellWord(`${esc(f.flag)}:${esc(f.describe)}`)).join(' ');
      return `    ("${l.path.join(' ')}") cmds=(${cmds}); flags=(${flags}) ;;`;
    })
    .join('\n');
  return `#compdef ${program}
# zsh completion for ${program} (generated by \`${program} completion zsh\`).
# Use: ${program} completion zsh > "\${fpath[1]}/_${program}", or source <(${program} completion zsh)
${fn}() {
  local cmdpath="" w next
  local -a cmds flags
  for w in "\${(@)words[2,CURRENT-1]}"; do
    [[ $w == -* ]] && continue
    next="\${cmdpath:+$cmdpath }$w"
    case "$next" in
      (${paths.length ? paths.join('|') : '""'}) cmdpath="$next" ;;
    esac
  done
  case "$cmdpath" in
${cases}
  esac
  if [[ $PREFIX == -* || \${#cmds} -eq 0 ]]; then
    _describe -t options '${program} option' flags
  else
    _describe -t commands '${program} command' cmds
  fi
}
if [[ "\${funcstack[1]}" == "${fn}" ]]; then ${fn} "$@"; else compdef ${fn} ${program}; fi
`;
}

/** A completion script for `program` (its shell function is _program, with _ for -). */
export function completionScript(program: string, shell: 'bash' | 'zsh', all: Level[]): string {
  const fn = `_${program.replace(/-/g, '_')}`;
  return shell === 'bash' ? bash(program, fn, all) : zsh(program, fn, all);
}
