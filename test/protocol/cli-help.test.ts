import test from 'ava';
import yargs from 'yargs';
import { annotationsOff, exitsText, helpLevels, helpOf, parseHelp, teach } from '../../protocol/cli-help.js';

const HELP = `tool job

report on the job

Commands:
  tool job run [command..]  run a command  [aliases: r]
  tool job info             this job's id

Positionals:
  name  the parameter name  [string] [required]

Options:
  -q, --quiet     no progress bar                         [boolean] [default: false]
      --web       serve the web console too               [boolean] [default: true]
      --store     image store directory
                [string] [default: $TML_IMAGE_STORE, else the current directory]

Examples:
  tool job run -- make   --not-a-flag

Exit codes:
    0  done
`;

test('a help page gives its subcommands and flags, aliases and --no- spellings included', (t) => {
  const { commands, flags } = parseHelp(HELP, 'tool', ['job']);
  t.deepEqual(commands, [
    { name: 'run', describe: 'run a command' },
    { name: 'info', describe: "this job's id" },
  ]);
  t.deepEqual(
    flags.map((f) => f.flag),
    ['-q', '--quiet', '--web', '--no-web', '--store'],
  );
  t.is(flags.find((f) => f.flag === '--store')!.describe, 'image store directory');
});

test("yargs' notes are not part of a description", (t) => {
  t.is(annotationsOff('bash or zsh  [string] [choices: "bash", "zsh"]'), 'bash or zsh');
  t.is(annotationsOff('[boolean]'), '');
});

test('exit codes are aligned on the widest code', (t) => {
  t.is(
    exitsText([
      [0, 'ok'],
      ['128+N', 'a signal'],
    ]),
    'Exit codes:\n      0  ok\n  128+N  a signal',
  );
});

test('the levels of a yargs parser are read from its help, with examples and exit codes taught', async (t) => {
  const parser = (words: string[]) =>
    teach(yargs(words).scriptName('tool'), { examples: [['$0 job', '']], exits: [[0, 'done']], manual: 'tml.md' })
      .command('job', 'jobs', (y) =>
        y.command('run', 'run one', (c) => c.option('fast', { type: 'boolean', describe: 'go fast' })),
      )
      .strict();
  const levels = await helpLevels('tool', (w) => helpOf(parser, w));
  t.deepEqual(
    levels.map((l) => l.path.join(' ')),
    ['', 'job', 'job run'],
  );
  t.true(levels[2]!.flags.some((f) => f.flag === '--fast' && f.describe === 'go fast'));
  const root = await helpOf(parser, ['--help']);
  t.regex(root, /Examples:\n {2}tool job/);
  t.regex(root, /Exit codes:\n {4}0 {2}done\n\nManual: .*tml\.md/);
});
