// The help of every command, from the parser itself (no process spawned): each flag described,
// an example, the exit codes, the manual; and usage errors that name the cause.

import test from 'ava';
import { readFileSync } from 'node:fs';
import { GLOBAL_OPTIONS, TABLE } from '../../tml/commands.js';
import { leaves } from './command-leaves.js';
import { buildParser, manualPath } from '../../tml/parser.js';
import { usageMessage } from '../../tml/usage.js';

function help(words: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    buildParser(words)
      .exitProcess(false)
      .parse(words, {}, (err, _argv, output) => (err ? reject(err) : resolve(output)));
  });
}

for (const [words, spec] of leaves(TABLE)) {
  test(`tml ${words.join(' ')} --help describes each flag, gives an example and the exit codes`, async (t) => {
    const text = await help([...words, '--help']);
    for (const [name, o] of Object.entries({ ...GLOBAL_OPTIONS, ...(spec.options ?? {}) })) {
      t.true(o.describe.length > 10, `--${name} has a description`);
      const line = text.split('\n').find((l) => new RegExp(`^ +(-\\w, )?--${name}[ ,]`).test(l));
      t.truthy(line, `--${name} is in the help`);
      t.true(line!.includes(o.describe.slice(0, 20)), `--${name}: ${line}`);
    }
    t.regex(text, /\nExamples:\n {2}\S/);
    t.regex(text, /\nExit codes:\n {4}0 {2}/);
    t.true(text.includes(`Manual: ${manualPath()}`));
  });
}

test('the manual is the docs/tml.md of this checkout and names every command and flag', (t) => {
  const manual = readFileSync(manualPath(), 'utf8');
  for (const [words, spec] of leaves(TABLE)) {
    t.true(manual.includes(`tml ${words.join(' ')}`), `tml ${words.join(' ')}`);
    for (const name of Object.keys(spec.options ?? {}))
      t.true(manual.includes(`--${name}`), `--${name} (${words.join(' ')})`);
  }
  for (const name of Object.keys(GLOBAL_OPTIONS)) t.true(manual.includes(`--${name}`), `--${name}`);
});

const usage = (message: string, words: string[]) => usageMessage(message, TABLE, GLOBAL_OPTIONS, words);

test('a mistyped command is named, with the command it is near if one is', (t) => {
  t.is(
    usage('Did you mean enqueue?', ['job', 'enquue', 'IMG']),
    'unknown command "enquue" for tml job (did you mean enqueue?); commands: enqueue, run, status, list, cancel, logs, events, wait, ssh, open, reserve, console',
  );
  t.regex(
    usage('Unknown argument: frob', ['-u', 'http://x', 'frob']),
    /^unknown command "frob" for tml; commands: login,/,
  );
});

test('an unknown flag is named once, with the flag it is near', (t) => {
  t.is(
    usage('Unknown argument: tag-confg', ['job', 'enqueue', 'IMG', '--tag-confg', 'x']),
    'unknown option --tag-confg for tml job enqueue (did you mean --tag-config?)',
  );
  t.is(usage('Unknown argument: x', ['job', 'list', '-x']), 'unknown option -x for tml job list');
});

test('a missing argument shows the usage of the command', (t) => {
  t.is(
    usage('Not enough non-option arguments: got 0, need at least 1', ['job', 'wait']),
    'missing arguments: tml job wait <id>',
  );
  t.is(
    usage('Unknown argument: extra', ['job', 'status', 'ID', 'extra']),
    'unexpected argument "extra" for tml job status',
  );
});

test('flags that take a value are skipped with it when finding the command', (t) => {
  t.regex(
    usage('Did you mean job?', ['--profile', 'job', 'jbo']),
    /^unknown command "jbo" for tml \(did you mean job\?\)/,
  );
});

test('a flag without its value, and a value not among the choices, are said plainly', (t) => {
  t.is(
    usage('Not enough arguments following: limit', ['job', 'list', '--limit']),
    '--limit needs a value (see tml job list --help)',
  );
  t.is(
    usage('Invalid values:\n  Argument: work, Given: "x", Choices: "idle", "busy"', [
      'supervisor',
      'list',
      '--work',
      'x',
    ]),
    '--work must be one of idle, busy, got "x"',
  );
  t.is(
    usage('Invalid values:\n  Argument: shell, Given: "fish", Choices: "bash", "zsh"', ['completion', 'fish']),
    'shell must be one of bash, zsh, got "fish"',
  );
});
