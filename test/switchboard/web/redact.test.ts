import test from 'ava';
import fc from 'fast-check';
import { lineText, renderAll } from '../../../switchboard/web/console-render.js';
import { MASK, MIN_SECRET_LENGTH, Redactor } from '../../../switchboard/web/redact.js';

const secretArb = fc.string({ minLength: MIN_SECRET_LENGTH, maxLength: 10, unit: fc.constantFrom('a', 'b', 'c', 'x') });

test('secrets in text are masked, however they repeat or overlap', (t) => {
  fc.assert(
    fc.property(
      fc.array(secretArb, { minLength: 1, maxLength: 3 }),
      fc.string({ unit: fc.constantFrom('a', 'b', 'c', 'x', ' ') }),
      (secrets, text) => {
        const out = new Redactor(secrets).text(text);
        for (const s of secrets) t.false(out.includes(s));
      },
    ),
  );
  t.is(new Redactor(['hunter2']).text('pw=hunter2, again hunter2'), `pw=${MASK}, again ${MASK}`);
});

test('short secrets are left alone', (t) => {
  t.is(new Redactor(['abc']).text('abcabc'), 'abcabc');
});

test('a secret split across colours is masked in a console line, keeping the other runs', (t) => {
  const [line] = renderAll(Buffer.from('key: hun\x1b[31mter2 \x1b[0mend\n'));
  const masked = new Redactor(['hunter2']).line(line!);
  t.is(lineText(masked), `key: ${MASK} end`);
  t.deepEqual(masked.runs[masked.runs.length - 1], { cls: '', text: 'end' });
});

test('an unfinished line hides a tail that could be the start of a secret', (t) => {
  const [line] = renderAll(Buffer.from('token=hunt'));
  const r = new Redactor(['hunter2']);
  t.is(lineText(r.line(line!, true)), `token=${MASK}`);
  t.is(lineText(r.line(line!, false)), 'token=hunt');
});

test('the byte streamer masks secrets split across chunks', (t) => {
  fc.assert(
    fc.property(
      fc.array(secretArb, { minLength: 1, maxLength: 3 }),
      fc.string({ unit: fc.constantFrom('a', 'b', 'c', 'x', '\n') }),
      fc.array(fc.nat(), { maxLength: 6 }),
      (secrets, text, cuts) => {
        const r = new Redactor(secrets);
        const buf = Buffer.from(text);
        const points = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
        const s = r.streamer();
        const out: Buffer[] = [];
        let prev = 0;
        for (const p of [...points, buf.length]) {
          out.push(s.push(buf.subarray(prev, p)));
          prev = p;
        }
        out.push(s.flush());
        const whole = Buffer.concat(out).toString();
        for (const sec of secrets) t.false(whole.includes(sec), `${sec} in ${whole}`);
        const s2 = r.streamer();
        t.is(Buffer.concat([s2.push(buf), s2.flush()]).toString(), whole);
      },
    ),
  );
});
