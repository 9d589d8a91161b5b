import test from 'ava';
import fc from 'fast-check';
import { lineText, renderAll } from '../../../switchboard/web/console-render.js';
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

const consoleText = fc
  .array(
    fc.oneof(
      { weight: 6, arbitrary: fc.stringMatching(/^[a-c ]{0,12}\n$/) },
      { weight: 1, arbitrary: fc.constantFrom('\x1b[31m', '\x1b[0m', '\r', 'a\tb', 'é', '\x1b[2K', 'ab\bc') },
    ),
    { maxLength: 40 },
  )
  .map((parts) => Buffer.from(parts.join('')));

test('the plain-text shortcut finds exactly what rendering every line finds', async (t) => {
  await fc.assert(
    fc.asyncProperty(
      consoleText,
      fc.stringMatching(/^[a-c ]{1,4}$/),
      fc.array(fc.integer({ min: 1, max: 64 }), { maxLength: 5 }),
      fc.boolean(),
      async (bytes, q, sizes, caseSensitive) => {
        const redactor = new Redactor(['abca']);
        const fast = await searchConsole(source(bytes, sizes), q, redactor, { caseSensitive });
        const slow = await searchConsole(source(bytes), q, redactor, { caseSensitive, fastPath: false });
        t.deepEqual(fast, slow);
      },
    ),
    { numRuns: 500 },
  );
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
