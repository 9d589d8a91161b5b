// A mistyped command or flag, said as the user would want it, by every CLI but tml (whose own
// table-based messages are tested in test/tml/help.test.ts).

import test from 'ava';
import { spawnSync } from 'node:child_process';
import { cliPath } from '../../scripts/child-processes.js';

function run(cli: string, words: string[]) {
  return spawnSync(process.execPath, [cliPath(cli), ...words], { encoding: 'utf8' });
}

const CASES: Array<[string, string, string[], RegExp]> = [
  ['tml-puppet', 'puppet/cli.js', ['parameter', 'gett', 'x'], /^tml-puppet: unknown command, did you mean get\?/],
  ['tml-switchboard', 'switchboard/cli.js', ['usr', 'list'], /^tml-switchboard: unknown command, did you mean user\?/],
  ['tml-imagetool', 'imagetool/cli.js', ['verfy'], /^tml-imagetool: unknown command, did you mean verify\?/],
  [
    'tml-supervisor',
    'supervisor/cli.js',
    ['lsit', '--bogus-flgg'],
    /^tml-supervisor: unknown option --bogus-flgg; unexpected argument "lsit"$/,
  ],
];

for (const [name, cli, words, line] of CASES) {
  test(`${name} ${words.join(' ')}: one line naming the mistake, exit 2`, (t) => {
    const r = run(cli, words);
    t.is(r.status, 2, r.stderr);
    t.regex(r.stderr.trim(), line);
    t.is(r.stderr.trim().split('\n').length, 1, r.stderr);
    t.false(r.stderr.includes('bogusFlgg'), r.stderr);
  });
}
