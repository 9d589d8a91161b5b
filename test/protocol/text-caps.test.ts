import test from 'ava';
import fc from 'fast-check';
import { capNullableText, capText, truncationMarker } from '../../protocol/text-caps.js';

test('a text that fits is returned unchanged', (t) => {
  t.is(capText('all 12 tests passed', 64), 'all 12 tests passed');
  t.is(capText('x'.repeat(64), 64), 'x'.repeat(64));
  t.is(capNullableText(null, 64), null);
});

test('a longer text is cut to the cap, ending with a marker giving its original size', (t) => {
  const capped = capText('x'.repeat(1000), 100);
  t.is(Buffer.byteLength(capped), 100);
  t.is(capped, 'x'.repeat(100 - truncationMarker(1000).length) + truncationMarker(1000));
});

test('the cut never splits a character', (t) => {
  // 'é' is two bytes: an odd cut point must fall back to the character before it.
  const capped = capText('é'.repeat(100), 51);
  t.false(capped.includes('\ufffd'));
  t.regex(capped, /^é+ \[truncated: 200 bytes\]$/);
  t.true(Buffer.byteLength(capped) <= 51);
});

test('property: a capped text fits, and is the original or a prefix of it with the marker', (t) => {
  fc.assert(
    fc.property(fc.string({ unit: 'grapheme', maxLength: 300 }), fc.integer({ min: 40, max: 400 }), (text, max) => {
      const capped = capText(text, max);
      if (capped === text) return Buffer.byteLength(text) <= max;
      const marker = truncationMarker(Buffer.byteLength(text));
      return (
        Buffer.byteLength(capped) <= max && capped.endsWith(marker) && text.startsWith(capped.slice(0, -marker.length))
      );
    }),
  );
  t.pass();
});
