import test from 'ava';
import fc from 'fast-check';
import {
  ConsoleRenderer,
  MAX_LINE_BYTES,
  applySgr,
  lineText,
  nearest256,
  renderAll,
  styleClasses,
  type Line,
} from '../../../switchboard/web/console-render.js';

const bytes = (s: string) => Buffer.from(s, 'utf8');
const texts = (s: string | Buffer) => renderAll(typeof s === 'string' ? bytes(s) : s).map(lineText);

/** Console-like bytes: text, UTF-8, newlines, CRs, and well-formed, cut and garbage escape sequences. */
const consoleBytes = fc
  .array(
    fc.oneof(
      fc.string({ maxLength: 12 }).map(bytes),
      fc.constantFrom('\n', '\r', '\r\n', '\b', '\t', '\x07', '\x7f').map(bytes),
      fc.constantFrom('é', '€', '😀', '\u0085', '\ufffd').map(bytes),
      fc.array(fc.integer({ min: 0, max: 300 }), { maxLength: 6 }).map((ps) => bytes(`\x1b[${ps.join(';')}m`)),
      fc
        .constantFrom(
          '\x1b[38;5;196m',
          '\x1b[48;2;10;200;30m',
          '\x1b[0m',
          '\x1b[1;4;7m',
          '\x1b[K',
          '\x1b[2K',
          '\x1b[1K',
          '\x1b[3D',
          '\x1b[5G',
          '\x1b[?25l',
          '\x1b]0;title\x07',
          '\x1b]8;;http://x\x1b\\',
          '\x1b(B',
          '\x1b',
          '\x1b[',
          '\x1b]unterminated',
          '\x1bP',
        )
        .map(bytes),
      fc.uint8Array({ maxLength: 8 }).map((a) => Buffer.from(a)),
    ),
    { maxLength: 40 },
  )
  .map((parts) => Buffer.concat(parts));

/** Splits `buf` at the given cut points. */
function split(buf: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
  const parts: Buffer[] = [];
  let prev = 0;
  for (const p of points) {
    parts.push(buf.subarray(prev, p));
    prev = p;
  }
  parts.push(buf.subarray(prev));
  return parts;
}

function renderParts(parts: Buffer[]): Line[] {
  const r = new ConsoleRenderer();
  const lines = parts.flatMap((p) => r.push(p));
  const p = r.pending();
  if (p) lines.push(p);
  return lines;
}

test('rendering a console split at arbitrary byte boundaries gives the same lines as rendering it whole', (t) => {
  fc.assert(
    fc.property(consoleBytes, fc.array(fc.nat(), { maxLength: 10 }), (buf, cuts) => {
      t.deepEqual(renderParts(split(buf, cuts)), renderAll(buf));
    }),
    { numRuns: 2000 },
  );
});

test('line ids are unique, increasing, and the lines cover every byte in order', (t) => {
  fc.assert(
    fc.property(consoleBytes, fc.nat(1000), (buf, start) => {
      const lines = renderAll(buf, start);
      let pos = start;
      for (const l of lines) {
        t.is(l.start, pos);
        t.true(l.end > l.start);
        pos = l.end;
      }
      t.is(pos, start + buf.length);
    }),
    { numRuns: 1000 },
  );
});

test('anchors are stable as the log grows: finished lines never change and the unfinished one keeps its id', (t) => {
  fc.assert(
    fc.property(consoleBytes, consoleBytes, (before, more) => {
      const whole = renderAll(Buffer.concat([before, more]));
      const r = new ConsoleRenderer();
      const done = r.push(before);
      t.deepEqual(done, whole.slice(0, done.length));
      const p = r.pending();
      if (p) t.is(whole[done.length]!.start, p.start);
    }),
    { numRuns: 1000 },
  );
});

test('a renderer resumed at the start of the unfinished line with its state continues exactly', (t) => {
  fc.assert(
    fc.property(consoleBytes, consoleBytes, (before, more) => {
      const all = Buffer.concat([before, more]);
      const whole = renderAll(all);
      const first = new ConsoleRenderer();
      const done = first.push(before);
      const resumed = new ConsoleRenderer(first.resumeOffset, first.state);
      const rest = resumed.push(all.subarray(first.resumeOffset));
      const p = resumed.pending();
      t.deepEqual([...done, ...rest, ...(p ? [p] : [])], whole);
    }),
    { numRuns: 1000 },
  );
});

test('newlines end lines; a final line without one is still shown', (t) => {
  t.deepEqual(texts('one\ntwo\nthree'), ['one', 'two', 'three']);
  t.deepEqual(texts('a\n\nb\n'), ['a', '', 'b']);
  t.deepEqual(
    renderAll(bytes('ab\ncd')).map((l) => [l.start, l.end]),
    [
      [0, 3],
      [3, 5],
    ],
  );
});

test('carriage-return progress lines collapse to their last state', (t) => {
  t.deepEqual(texts('10%\r50%\r100%\ndone\n'), ['100%', 'done']);
  t.deepEqual(texts('downloading....\rok\n'), ['okwnloading....']);
  t.deepEqual(texts('downloading....\r\x1b[Kok\n'), ['ok']);
  t.deepEqual(texts('line\r\n'), ['line']);
});

test('backspace, tab and cursor moves rewrite the line like a terminal', (t) => {
  t.deepEqual(texts('ab\bc\n'), ['ac']);
  t.deepEqual(texts('|\b/\b-\n'), ['-']);
  t.deepEqual(texts('a\tb\n'), ['a       b']);
  t.deepEqual(texts('abcdef\x1b[3Dx\n'), ['abcxef']);
  t.deepEqual(texts('abc\x1b[2Kx\n'), ['   x']);
  t.deepEqual(texts('abcdef\x1b[3G\x1b[1Kx\n'), ['  xdef']);
});

test('SGR colours and attributes become classes', (t) => {
  const line = renderAll(bytes('\x1b[31mred\x1b[0m plain \x1b[1;38;5;208mbold orange\x1b[m\n'))[0]!;
  t.deepEqual(line.runs, [
    { cls: 'f1', text: 'red' },
    { cls: '', text: ' plain ' },
    { cls: 'f208 sb', text: 'bold orange' },
  ]);
  t.is(styleClasses(applySgr(applySgr(0, [0]), [7])), 'fr br');
  t.is(styleClasses(applySgr(applySgr(0, [0]), [34, 43, 7])), 'f3 b4');
  t.is(styleClasses(applySgr(applySgr(0, [0]), [92, 104, 3, 9])), 'f10 b12 si ss');
  t.is(styleClasses(applySgr(applySgr(applySgr(0, [0]), [1, 4]), [22, 24])), '');
});

test('styles carry across lines until reset', (t) => {
  const lines = renderAll(bytes('\x1b[32mgreen\nstill green\x1b[0m\nplain\n'));
  t.deepEqual(
    lines.map((l) => l.runs),
    [[{ cls: 'f2', text: 'green' }], [{ cls: 'f2', text: 'still green' }], [{ cls: '', text: 'plain' }]],
  );
});

test('truecolour maps to the nearest palette colour', (t) => {
  t.is(nearest256(255, 0, 0), 196);
  t.is(nearest256(0, 0, 0), 16);
  t.is(nearest256(128, 128, 128), 244);
  t.is(styleClasses(applySgr(applySgr(0, [0]), [38, 2, 255, 0, 0])), 'f196');
});

test('escape sequences that are not rendered leave no trace, and unterminated ones end at the newline', (t) => {
  t.deepEqual(texts('\x1b]0;window title\x07text\x1b[?25h\x1b(B\n'), ['text']);
  t.deepEqual(texts('\x1b]8;;http://evil/\x1b\\link\x1b]8;;\x1b\\\n'), ['link']);
  t.deepEqual(texts('a\x1b]never ends\nnext line\n'), ['a', 'next line']);
  t.deepEqual(texts('a\x1b[12\nb\n'), ['a', 'b']);
});

test('invalid UTF-8 shows replacement characters; C0 controls are dropped and C1 ones replaced', (t) => {
  t.deepEqual(texts(Buffer.from([0x61, 0xff, 0x62, 0xe2, 0x82, 0x0a])), ['a\ufffdb\ufffd']);
  t.deepEqual(texts('a\x00\x07b\u0085c\n'), ['ab\ufffdc']);
  t.deepEqual(texts('€😀\n'), ['€😀']);
});

test('a line longer than MAX_LINE_BYTES is broken into lines whose ids are their byte offsets', (t) => {
  const long = 'x'.repeat(MAX_LINE_BYTES * 2 + 10);
  const lines = renderAll(bytes(`${long}\nnext\n`));
  t.deepEqual(
    lines.map((l) => [l.start, lineText(l).length]),
    [
      [0, MAX_LINE_BYTES],
      [MAX_LINE_BYTES, MAX_LINE_BYTES],
      [MAX_LINE_BYTES * 2, 10],
      [MAX_LINE_BYTES * 2 + 11, 4],
    ],
  );
});

test('markup in console bytes is kept as text, never interpreted here', (t) => {
  t.deepEqual(texts('<script>alert("x")</script>\x1b[31m<b onload=\'1\'>\n'), [
    '<script>alert("x")</script><b onload=\'1\'>',
  ]);
});
