import test from 'ava';
import fc from 'fast-check';
import { MAX_LINE_BYTES, lineText, renderAll } from '../../../switchboard/web/console-render.js';
import type { ConsoleSource } from '../../../switchboard/web/console-window.js';
import { Redactor } from '../../../switchboard/web/redact.js';
import { searchConsole, snippet } from '../../../switchboard/web/search.js';

/** A console held in memory that answers reads with slices of the given sizes. */
function source(bytes: Buffer, sizes: number[] = []): ConsoleSource {
  let i = 0;
  return {
    start: 0,
    end: bytes.length,
    read: async (offset, max) => {
      const n = Math.max(1, Math.min(max, sizes.length ? sizes[i++ % sizes.length]! : max));
      return { offset, data: bytes.subarray(offset, offset + n) };
    },
    times: async () => [],
  };
}

/** Bytes that change how a line renders, or look as if they might. */
const special = fc.oneof(
  fc.constantFrom(
    '\x1b[31m',
    '\x1b[0m',
    '\x1b[1;32m',
    '\x1b[m',
    `\x1b[${'1;'.repeat(31)}1m`,
    `\x1b[${'1;'.repeat(32)}m`,
    '\x1b[38;5;1m',
    '\x1b[38:5:1m',
    '\x1b[2K',
    '\x1b[3D',
    '\x1b[?25l',
    '\x1b]0;title\x07',
    '\x1bc',
    '\x1b',
  ),
  fc.constantFrom('\r', '\r\x1b[0m', '\t', '\b', '\x7f', '\x00', '\x0b', '\x0c', '\x1f'),
  fc.constantFrom('é', '\u212a', '\u0130', '\x85'),
  fc.constantFrom(Buffer.from([0xc3]), Buffer.from([0xe2, 0x9c]), Buffer.from([0xff])),
);

/** Lines of text with special bytes between and inside words, each ending (or not) with a newline. */
const consoleText = fc
  .array(
    fc.tuple(
      fc.array(fc.oneof({ weight: 3, arbitrary: fc.stringMatching(/^[a-cA-C0-9;[m ]{1,6}$/) }, special), {
        maxLength: 4,
      }),
      fc.constantFrom('\n', '\r\n', '\r\r\n', ''),
    ),
    { maxLength: 6 },
  )
  .map((lines) =>
    Buffer.concat(
      lines.flatMap(([parts, end]) => [...parts, end].map((p) => (typeof p === 'string' ? Buffer.from(p) : p))),
    ),
  );

// Lines longer than the renderer keeps (it breaks them), with the query's letters about.
const longLines = fc
  .tuple(fc.integer({ min: MAX_LINE_BYTES - 8, max: MAX_LINE_BYTES * 2 + 8 }), fc.stringMatching(/^[a-c]{1,6}$/))
  .map(([n, s]) => Buffer.from(`${'a'.repeat(n - s.length)}${s}\x1b[0m${s}${n % 2 ? '\n' : ''}`));

/** A console and a query: often a piece of the console's rendered text, so that there are hits. */
const consoleAndQuery = fc
  .tuple(
    fc.oneof({ weight: 5, arbitrary: consoleText }, { weight: 1, arbitrary: longLines }),
    fc.option(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 4 })), { freq: 3 }),
    fc.stringMatching(/^[a-cA-Ci-k0-9;[m ]{1,3}$/),
  )
  .map(([bytes, piece, random]) => {
    const text = renderAll(bytes).map(lineText).join('\n');
    const at = piece && text.length > 0 ? piece[0] % text.length : -1;
    const q = at >= 0 ? text.slice(at, at + piece![1]).replace(/\n/g, '') : '';
    return { bytes, q: q === '' ? random : q };
  });

test('the plain-text shortcut finds exactly what rendering every line finds', async (t) => {
  await fc.assert(
    fc.asyncProperty(
      consoleAndQuery,
      fc.array(fc.integer({ min: 1, max: 64 }), { maxLength: 5 }),
      fc.boolean(),
      async ({ bytes, q }, sizes, caseSensitive) => {
        const redactor = new Redactor(['abca', 'b[0m']);
        const fast = await searchConsole(source(bytes, sizes), q, redactor, { caseSensitive });
        const slow = await searchConsole(source(bytes), q, redactor, { caseSensitive, fastPath: false });
        t.deepEqual(fast, slow);
      },
    ),
    { numRuns: 2000 },
  );
});

test('lines whose bytes are not their rendered text are rendered before they are searched', async (t) => {
  const cases: Array<[string, string]> = [
    ['ab\rc\n', 'cb'],
    ['a\x7fb\n', 'ab'],
    ['a\x0cb\n', 'ab'],
    ['a\x1bcb\n', 'ab'],
    [`a\x1b[${'1;'.repeat(32)}m\n`, 'am'],
    ['a\x1b[38:5:1mb\n', 'ab'],
    ['a\tb\n', 'a  '],
    ['ab\x1b[2Dc\n', 'cb'],
    ['\u212a\n', 'k'],
  ];
  for (const [text, q] of cases) {
    const r = await searchConsole(source(Buffer.from(text)), q, new Redactor([]));
    t.is(r.hits.length, 1, JSON.stringify(text));
  }
});

test('a query split by colour sequences in the bytes is found in the rendered line', async (t) => {
  const bytes = Buffer.from('[\x1b[0;32m  OK  \x1b[0m] Started\r\nplain line\n');
  const r = await searchConsole(source(bytes), '[  ok  ] start', new Redactor([]));
  t.deepEqual(r.hits, [{ id: 0, text: '[  OK  ] Started' }]);
});

test('a console stored from the middle of a line is searched from where it starts', async (t) => {
  const bytes = Buffer.from('xx tail of a line\nnext line\n');
  const src = { ...source(bytes), start: 3 };
  const r = await searchConsole(src, 'tail', new Redactor([]));
  t.deepEqual(r.hits, [{ id: 3, text: 'tail of a line' }]);
});

test('hits are the lines whose rendered, masked text contains the query, case-insensitively', async (t) => {
  const bytes = Buffer.from('Alpha one\nbeta \x1b[1mALPHA\x1b[0m two\nx 10%\rx 100%\nkey=alpha-secret\n');
  const r = await searchConsole(source(bytes), 'alpha', new Redactor(['alpha-secret']));
  const lines = renderAll(bytes);
  t.deepEqual(r.hits, [
    { id: lines[0]!.start, text: lineText(lines[0]!) },
    { id: lines[1]!.start, text: 'beta ALPHA two' },
  ]);
  t.deepEqual((await searchConsole(source(bytes), 'x 10%', new Redactor([]))).hits, []);
  t.deepEqual((await searchConsole(source(bytes), 'alpha', new Redactor([]), { caseSensitive: true })).hits.length, 1);
});

test('search stops at the hit limit and says so', async (t) => {
  const bytes = Buffer.from('hit\n'.repeat(50));
  const r = await searchConsole(source(bytes), 'hit', new Redactor([]), { maxHits: 10 });
  t.is(r.hits.length, 10);
  t.true(r.truncated);
});

test('a snippet of a long line is cut around the match', (t) => {
  const text = `${'a'.repeat(500)}NEEDLE${'b'.repeat(500)}`;
  const s = snippet(text, 500, 6);
  t.true(s.includes('NEEDLE'));
  t.true(s.length <= 162);
  t.true(s.startsWith('…') && s.endsWith('…'));
});
