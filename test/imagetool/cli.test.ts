import test from 'ava';
import { readFile } from 'node:fs/promises';
import { runCli, tempDir } from './helpers.js';

const pkg = JSON.parse(await readFile(new URL('../../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

for (const flag of ['--version', '-V']) {
  test(`${flag} prints the package version and exits 0, needing no command`, async (t) => {
    const r = await runCli([flag]);
    t.is(r.code, 0, r.stderr);
    t.is(r.stdout, `tml-imagetool ${pkg.version}\n`);
    t.is(r.stderr, '');
  });
}

const pointed: Array<[string, string[], string]> = [
  ['no command', [], 'give a command (see --help)'],
  ['an unknown flag', ['list', '--bogus'], 'unknown option --bogus (see --help)'],
  ['a mistyped command', ['verfy'], 'unknown command, did you mean verify? (see --help)'],
  ['a missing required flag', ['create', '--blob', 'a=/dev/null'], 'Missing required argument: label (see --help)'],
];

for (const [what, args, line] of pointed) {
  test(`${what} says so once, points at --help once, and exits 2`, async (t) => {
    const dir = await tempDir(t);
    const r = await runCli(['--store', dir, ...args]);
    t.is(r.code, 2);
    t.is(r.stderr, `tml-imagetool: ${line}\n`);
  });
}

test('a usage error of our own names its fix without the --help pointer', async (t) => {
  const dir = await tempDir(t);
  const r = await runCli(['--store', dir, 'show', 'x', '--raw', '--json']);
  t.is(r.code, 2);
  t.is(r.stderr, 'tml-imagetool: give --raw or --json, not both\n');
});

test('a runtime failure is one line and exit 1', async (t) => {
  const dir = await tempDir(t);
  const r = await runCli(['--store', `${dir}/absent`, 'list']);
  t.is(r.code, 1);
  t.regex(r.stderr, /^tml-imagetool: cannot open store .*absent: no such file or directory\n$/);
});
