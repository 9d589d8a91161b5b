import test from 'ava';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ExitWith, UsageError, failureOf, oneLine, typingMistake } from '../../protocol/cli.js';

const run = promisify(execFile);

test('a usage error exits 2 with one line naming the program', (t) => {
  t.deepEqual(failureOf('tml', new UsageError('--limit must be a whole number')), {
    code: 2,
    line: 'tml: --limit must be a whole number',
  });
});

test('a runtime failure exits 1 with one line, even when its message has several', (t) => {
  t.deepEqual(failureOf('tml-imagetool', new Error('cannot read x:\n  ENOENT\n')), {
    code: 1,
    line: 'tml-imagetool: cannot read x: ENOENT',
  });
});

test('ExitWith keeps its code and prints its message, or nothing', (t) => {
  t.deepEqual(failureOf('tml', new ExitWith(7, 'no supervisor matches')), {
    code: 7,
    line: 'tml: no supervisor matches',
  });
  t.deepEqual(failureOf('tml', new ExitWith(3)), { code: 3, line: null });
});

test('a thrown non-error still gives one line and exit 1', (t) => {
  t.deepEqual(failureOf('tml', 'boom'), { code: 1, line: 'tml: boom' });
});

test('oneLine folds line breaks and the white space around them', (t) => {
  t.is(oneLine(' a\r\n   b\nc  '), 'a b c');
});

const CLI = new URL('../../protocol/cli.js', import.meta.url).href;

async function program(body: string): Promise<{ code: number; stderr: string }> {
  const src = `import { runCli, UsageError } from '${CLI}'; runCli('prog', async () => { ${body} });`;
  try {
    const r = await run(process.execPath, ['--input-type=module', '-e', src], {
      env: { ...process.env, TML_DEBUG: '' },
    });
    return { code: 0, stderr: r.stderr };
  } catch (err) {
    const e = err as { code: number; stderr: string };
    return { code: e.code, stderr: e.stderr };
  }
}

test('runCli exits with the resolved code, and prints no stack trace for a failure', async (t) => {
  t.deepEqual(await program('return 5;'), { code: 5, stderr: '' });
  t.deepEqual(await program("throw new UsageError('bad flag');"), { code: 2, stderr: 'prog: bad flag\n' });
  t.deepEqual(await program("throw new TypeError('x is undefined');"), { code: 1, stderr: 'prog: x is undefined\n' });
});

test("yargs' recommended command becomes one line naming it", (t) => {
  t.is(typingMistake('Did you mean verify?', ['verfy']), 'unknown command, did you mean verify?');
});

test('an unknown flag is named once, without the camelCase spelling yargs adds', (t) => {
  t.is(typingMistake('Unknown arguments: tag-confg, tagConfg', ['--tag-confg', 'x']), 'unknown option --tag-confg');
  t.is(typingMistake('Unknown argument: q', ['-q']), 'unknown option -q');
});

test('a word that is not a flag is an unexpected argument; other messages pass through', (t) => {
  t.is(
    typingMistake('Unknown arguments: bogus-flgg, bogusFlgg, lsit', ['lsit', '--bogus-flgg']),
    'unknown option --bogus-flgg; unexpected argument "lsit"',
  );
  t.is(typingMistake('Missing required argument: tags', []), 'Missing required argument: tags');
});
