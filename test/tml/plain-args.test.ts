// A plain command line (command words, then positionals, no flag) runs its handler without yargs:
// the handler must get what yargs would give it, for every command of the table, and every line
// yargs would refuse or treat otherwise must go to yargs.

import test from 'ava';
import fc from 'fast-check';
import { isDeepStrictEqual } from 'node:util';
import { GLOBAL_OPTIONS, TABLE, type CommandSpec } from '../../tml/commands.js';
import type { Args } from '../../tml/context.js';
import { leaves } from './command-leaves.js';
import { buildParser } from '../../tml/parser.js';
import { plainCommand } from '../../tml/plain-args.js';

/** The table with every handler replaced by one that keeps the arguments it was given. */
function capturing(specs: CommandSpec[], seen: { argv?: Args }): CommandSpec[] {
  return specs.map((s) => ({
    ...s,
    subcommands: s.subcommands && capturing(s.subcommands, seen),
    run: s.run && (async (argv: Args) => void (seen.argv = argv)),
  }));
}

/** The arguments yargs hands the handler for `words`, or its refusal. */
async function viaYargs(words: string[]): Promise<{ argv: Args } | { refused: string }> {
  const seen: { argv?: Args } = {};
  try {
    await buildParser(words, capturing(TABLE, seen)).exitProcess(false).parseAsync();
  } catch (err) {
    return { refused: (err as Error).message };
  }
  return seen.argv ? { argv: seen.argv } : { refused: 'no handler ran' };
}

/** What a handler can tell apart: keys with a value, and not yargs' `$0`. */
const visible = (argv: Args): Args =>
  Object.fromEntries(Object.entries(argv).filter(([k, v]) => v !== undefined && k !== '$0'));

for (const [words, spec] of leaves(TABLE)) {
  const required = (spec.command.match(/<[\w-]+>/g) ?? []).length;
  const optional = (spec.command.match(/\[[\w-]+\]/g) ?? []).length;
  for (let n = required; n <= required + optional; n++) {
    const line = [...words, ...Array.from({ length: n }, (_, i) => `value${i}`)];
    test(`tml ${line.join(' ')}: the plain path gives the handler what yargs gives it, or leaves the line to yargs`, async (t) => {
      const plain = plainCommand(line, TABLE, GLOBAL_OPTIONS);
      const yargs = await viaYargs(line);
      if (plain === null) return t.pass();
      t.true('argv' in yargs, `yargs refuses what the plain path takes: ${'refused' in yargs ? yargs.refused : ''}`);
      if ('argv' in yargs) t.deepEqual(visible(plain.argv), visible(yargs.argv));
      t.is(plain.spec.command, spec.command);
    });
  }
}

test('the lines scripts type most are taken by the plain path, with their positionals', (t) => {
  const id = '3fa85f64-5717-4562-b3fc-2c963f66afa6';
  t.like(plainCommand(['job', 'status', id], TABLE, GLOBAL_OPTIONS)?.argv, { _: ['job', 'status'], id });
  t.like(plainCommand(['job', 'wait', id], TABLE, GLOBAL_OPTIONS)?.argv, { _: ['job', 'wait'], id });
  t.like(plainCommand(['job', 'list'], TABLE, GLOBAL_OPTIONS)?.argv, { _: ['job', 'list'], header: true });
  t.like(plainCommand(['supervisor', 'status', 'rpi-1'], TABLE, GLOBAL_OPTIONS)?.argv, { supervisor: 'rpi-1' });
});

test('a line with a flag, a missing positional or an unknown command is left to yargs', (t) => {
  for (const line of [
    ['job', 'status', 'ID', '--json'],
    ['job', 'status'],
    ['job', 'status', 'a', 'b'],
    ['job'],
    ['jobs', 'list'],
    ['job', 'status', '-'],
    ['completion', 'bash'],
    ['job', 'reserve', 'IMAGE'],
  ])
    t.is(plainCommand(line, TABLE, GLOBAL_OPTIONS), null, line.join(' '));
});

test('any words the plain path takes, yargs takes too, with the same arguments', async (t) => {
  const word = fc.oneof(
    fc.constantFrom('job', 'status', 'list', 'supervisor', 'login', 'wait', 'logs', 'pools', 'whoami', '--json', '-'),
    fc.string({ maxLength: 6 }),
  );
  await fc.assert(
    fc.asyncProperty(fc.array(word, { maxLength: 4 }), async (line) => {
      const plain = plainCommand(line, TABLE, GLOBAL_OPTIONS);
      if (plain === null) return true;
      const yargs = await viaYargs(line);
      return 'argv' in yargs && isDeepStrictEqual(visible(plain.argv), visible(yargs.argv));
    }),
    { numRuns: 300 },
  );
  t.pass();
});
