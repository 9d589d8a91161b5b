// What every CLI's help must teach, checked through the CLI a user types: each command's --help
// describes each flag and argument and gives an example, its exit codes and its manual (a docs/ page naming the
// command and its flags); `completion bash|zsh` prints scripts bash and zsh accept and that complete commands.

import test from 'ava';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { cliPath } from '../../scripts/child-processes.js';
import { annotationsOff, helpLevels, parseHelp } from '../../protocol/cli-help.js';
import { program, testWith } from '../helpers/tools.js';

function run(cli: string, words: string[], env: NodeJS.ProcessEnv = {}) {
  return spawnSync(process.execPath, [cliPath(cli), ...words], { encoding: 'utf8', env: { ...process.env, ...env } });
}

/** The help, examples, exit codes and completion tests of one CLI. */
export function helpTests(
  name: string,
  cli: string,
  manual: string,
  completes: [string, string],
  /** Other docs pages that describe some of its flags. */
  more: string[] = [],
): void {
  const pages = new Map<string, string>();
  /** A --help page, read once: the walk and the checks read each. */
  const help = async (words: string[]) => {
    const key = words.join(' ');
    if (!pages.has(key)) pages.set(key, run(cli, words).stdout);
    return pages.get(key)!;
  };

  test(`every ${name} command's --help describes each flag, gives an example, exit codes and the manual`, async (t) => {
    const levels = await helpLevels(name, help);
    t.true(levels.length > 1, 'commands found');
    const page = readFileSync(cliPath(`../docs/${manual}`), 'utf8');
    const docs = [page, ...more.map((m) => readFileSync(cliPath(`../docs/${m}`), 'utf8'))].join('\n');
    for (const { path } of levels) {
      const words = [...path, '--help'];
      const text = await help(words);
      const where = [name, ...path].join(' ');
      for (const f of parseHelp(text, name, path).flags) {
        t.true(f.describe.length > 3, `${where}: ${f.flag} described`);
        if (/^--(?!no-|help$|version$)/.test(f.flag)) t.true(docs.includes(f.flag), `the docs name ${where} ${f.flag}`);
      }
      const positionals = /\nPositionals:\n([\s\S]*?)\n\n/.exec(text)?.[1] ?? '';
      for (const m of positionals.matchAll(/^ {2}(\S+)(.*)$/gm))
        t.true(annotationsOff(m[2]!).length > 3, `${where}: <${m[1]}> described`);
      t.regex(text, /\nExamples:\n {2}\S/, `${where}: an example`);
      t.regex(text, /\nExit codes:\n(.*\n)* +0 {2}\S/, `${where}: exit 0`);
      t.regex(text, /\n +2 {2}usage error/, `${where}: exit 2`);
      const m = /\nManual: (.*)\n/.exec(text);
      t.truthy(m && existsSync(m[1]!), `${where}: the manual exists`);
      if (path.length) t.true(page.includes(where), `${manual} names ${where}`);
    }
  });

  test(`${name} completion bash prints a script bash sources and that completes commands`, (t) => {
    const script = run(cli, ['completion', 'bash']);
    t.is(script.status, 0, script.stderr);
    const [line, expected] = completes;
    const words = line.split(' ');
    const fn = `_${name.replace(/-/g, '_')}`;
    const r = spawnSync(
      'bash',
      [
        '-c',
        `${script.stdout}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; ${fn}; printf '%s\\n' "\${COMPREPLY[@]}"`,
      ],
      { encoding: 'utf8' },
    );
    t.is(r.status, 0, r.stderr);
    t.is(r.stdout.trim(), expected);
  });

  test(`${name} completion without a shell it knows is a usage error naming both`, (t) => {
    const r = run(cli, ['completion'], { SHELL: '/bin/fish' });
    t.is(r.status, 2);
    t.regex(r.stderr, new RegExp(`^${name}: give the shell: ${name} completion bash, or ${name} completion zsh`));
  });

  testWith(program('zsh', 'zsh'))(`${name} completion zsh prints a script zsh accepts`, (t) => {
    const script = run(cli, ['completion', 'zsh']);
    t.is(script.status, 0, script.stderr);
    t.regex(script.stdout, new RegExp(`^#compdef ${name}\\n`));
    const r = spawnSync('zsh', ['-n'], { input: script.stdout, encoding: 'utf8' });
    t.is(r.status, 0, r.stderr);
  });
}
