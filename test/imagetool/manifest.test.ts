import { deepStrictEqual, strictEqual } from 'node:assert/strict';
import test from 'ava';
import fc from 'fast-check';
import { parse } from 'smol-toml';
import { parseManifest, serializeManifest, sha256Hex, type Manifest } from '../../imagetool/index.js';
import { BASE_EXT, MANIFEST_KEY as KEY } from '../../protocol/image-manifest.js';
import { ValidationError } from '../../protocol/validation.js';

const D1 = 'a'.repeat(64);
const D2 = '0123456789abcdef'.repeat(4);

const sample = (): Manifest => ({
  label: 'Ubuntu 22.04 base installation',
  revision: 3,
  description: 'Minimal packages selected,\nDHCP network configuration.\n',
  attrs: { 'org.tockos.treadmill.image.qemu_layered_v0.head': 'layer-0' },
  blobs: {
    'layer-0': {
      digest: D1,
      size: 941229060,
      attrs: { 'org.tockos.treadmill.image.qemu_layered_v0.blob-virtual-size': '5368709120' },
    },
  },
});

const bytes = (s: string): Uint8Array => Buffer.from(s, 'utf8');

test('the canonical writer uses upstream key names, an integer manifest_version and quoted dotted keys', (t) => {
  const text = serializeManifest(sample());
  t.true(text.startsWith(`manifest_version = 0\nmanifest_extensions = [ "${BASE_EXT}" ]\n`));
  t.true(text.includes(`"${KEY.label}" = "Ubuntu 22.04 base installation"\n`));
  t.true(text.includes(`"${KEY.revision}" = 3\n`));
  t.true(text.includes(`["${KEY.blobs}".layer-0]\n"${KEY.digest}" = "${D1}"\n"${KEY.size}" = 941229060\n`));
  t.true(text.includes(`["${KEY.blobs}".layer-0."${KEY.attrs}"]\n`));
  const doc = parse(text);
  t.is(doc[KEY.version], 0);
});

test('the same manifest in any key order serialises to the same bytes', (t) => {
  const a = sample();
  const b: Manifest = {
    ...a,
    attrs: { z: '1', a: '2' },
    blobs: { y: a.blobs['layer-0']!, b: { digest: D2, size: 1, attrs: { q: 'r', c: 'd' } } },
  };
  const reordered: Manifest = {
    ...b,
    attrs: { a: '2', z: '1' },
    blobs: { b: { digest: D2, size: 1, attrs: { c: 'd', q: 'r' } }, y: a.blobs['layer-0']! },
  };
  t.is(serializeManifest(b), serializeManifest(reordered));
});

test('what the writer emits, the reader reads back unchanged', (t) => {
  t.deepEqual(parseManifest(bytes(serializeManifest(sample()))), sample());
});

const text = fc.string({ unit: 'binary', maxLength: 40 });
const manifestArb = fc.record({
  label: fc.string({ unit: 'binary', maxLength: 16 }),
  revision: fc.nat(),
  description: fc.string({ unit: 'binary', maxLength: 200 }),
  attrs: fc.dictionary(fc.string({ unit: 'binary', minLength: 0, maxLength: 16 }), text, { maxKeys: 4 }),
  blobs: fc.dictionary(
    fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/),
    fc.record({
      digest: fc.stringMatching(/^[0-9a-f]{64}$/),
      size: fc.nat(),
      attrs: fc.dictionary(fc.string({ unit: 'binary', maxLength: 16 }), text, { maxKeys: 3 }),
    }),
    { maxKeys: 4 },
  ),
});

test('any valid manifest round-trips through an independent TOML parser (property; fast-check throws on a counterexample)', (t) => {
  fc.assert(
    fc.property(manifestArb, (m) => {
      const out = serializeManifest(m);
      // smol-toml is a strict TOML 1.0 parser: the writer's escaping must satisfy it for every string.
      const doc = parse(out) as Record<string, unknown>;
      strictEqual(doc[KEY.label], m.label);
      strictEqual(doc[KEY.description], m.description);
      // JSON copy: fast-check builds null-prototype records, the reader plain objects.
      deepStrictEqual(parseManifest(bytes(out)), JSON.parse(JSON.stringify(m)));
      strictEqual(serializeManifest(parseManifest(bytes(out))), out);
    }),
    { numRuns: 300 },
  );
  t.pass();
});

// Keys differ in case, in punctuation and beyond ASCII, where a locale's collation (`localeCompare`:
// a < B < é) and UTF-16 code-unit order (U+1F600 before U+FF61) both differ from UTF-8 byte order.
const mixedKeys = (): Manifest => ({
  label: 'Mixed keys',
  revision: 1,
  description: 'sort order',
  attrs: { b: '1', B: '2', a: '3', Z: '4', _: '5', é: '6', e: '7', '\uFF61': '8', '\u{1F600}': '9', A: '10' },
  blobs: {
    b: { digest: 'b'.repeat(64), size: 1, attrs: { ä: 'x', z: 'y', Z: 'z' } },
    B: { digest: 'c'.repeat(64), size: 2, attrs: {} },
    _: { digest: 'd'.repeat(64), size: 3, attrs: {} },
    'a-1': { digest: 'e'.repeat(64), size: 4, attrs: {} },
    A: { digest: 'f'.repeat(64), size: 5, attrs: {} },
  },
});

const P = BASE_EXT;
const goldenBlob = (name: string, digest: string, size: number, attrs = ''): string =>
  `\n["${P}.blobs".${name}]\n"${P}.sha256-digest" = "${digest.repeat(64)}"\n"${P}.size" = ${size}\n` +
  `\n["${P}.blobs".${name}."${P}.attrs"]\n${attrs}`;

test('keys are sorted by UTF-8 bytes, as LC_ALL=C sort does: golden manifest bytes and image ID', (t) => {
  const text = serializeManifest(mixedKeys());
  t.is(
    text,
    `manifest_version = 0\nmanifest_extensions = [ "${P}" ]\n\n` +
      `"${P}.label" = "Mixed keys"\n"${P}.revision" = 1\n"${P}.description" = "sort order"\n\n` +
      `["${P}.attrs"]\n` +
      '"A" = "10"\n"B" = "2"\n"Z" = "4"\n"_" = "5"\n"a" = "3"\n"b" = "1"\n"e" = "7"\n"é" = "6"\n"\uFF61" = "8"\n"\u{1F600}" = "9"\n' +
      `\n["${P}.blobs"]\n` +
      goldenBlob('A', 'f', 5) +
      goldenBlob('B', 'c', 2) +
      goldenBlob('_', 'd', 3) +
      goldenBlob('a-1', 'e', 4) +
      goldenBlob('b', 'b', 1, '"Z" = "z"\n"z" = "y"\n"ä" = "x"\n'),
  );
  t.is(sha256Hex(Buffer.from(text, 'utf8')), 'd2cd635d3bd7c3effed3b06fa926a058c9752569802c72ad3383bb3db9acf5dc');
});

test('any bytes give a manifest or a one-line ValidationError (property)', (t) => {
  const keys = Object.values(KEY).map((k) => JSON.stringify(k));
  // Lines built from the manifest's own keys reach the field checks, not only the TOML parser.
  const line = fc.oneof(
    fc.tuple(
      fc.constantFrom(...keys),
      fc.constantFrom('0', '-1', '"x"', '[ "a" ]', '9223372036854775807', '{}', 'true'),
    ),
    fc.tuple(fc.constant(`[${JSON.stringify(KEY.blobs)}.b]`), fc.constant('')),
    fc.tuple(fc.string({ maxLength: 12 }), fc.string({ maxLength: 12 })),
  );
  const doc = fc.oneof(
    fc.uint8Array({ maxLength: 64 }),
    fc
      .array(line, { maxLength: 8 })
      .map((lines) => bytes(lines.map(([k, v]) => (v === '' ? `${k}\n` : `${k} = ${v}\n`)).join(''))),
  );
  fc.assert(
    fc.property(doc, (input) => {
      try {
        parseManifest(input);
        return true;
      } catch (err) {
        return err instanceof ValidationError && !err.message.includes('\n');
      }
    }),
    { numRuns: 500 },
  );
  t.pass();
});

const recipeManifest = `manifest_version = 0
manifest_extensions = [ "org.tockos.treadmill.manifest-ext.base", "com.example.other-ext" ]

"org.tockos.treadmill.manifest-ext.base.label" = "Ubuntu 22.04 base installation"
"org.tockos.treadmill.manifest-ext.base.revision" = 0
"org.tockos.treadmill.manifest-ext.base.description" = '''
Minimal packages selected, DHCP network configuration.
'''
"com.example.other-ext.flavour" = { x = 1 }

["org.tockos.treadmill.manifest-ext.base.attrs"]
"org.tockos.treadmill.image.qemu_layered_v0.head" = "layer-0"

["org.tockos.treadmill.manifest-ext.base.blobs".layer-0]
"org.tockos.treadmill.manifest-ext.base.sha256-digest" = "${D1}"
"org.tockos.treadmill.manifest-ext.base.size" = 941229060
"com.example.unknown" = true

["org.tockos.treadmill.manifest-ext.base.blobs".layer-0."org.tockos.treadmill.manifest-ext.base.attrs"]
"org.tockos.treadmill.image.qemu_layered_v0.blob-virtual-size" = "5368709120"
`;

test("the reader accepts the recipe heredoc style with ''' strings and ignores unknown keys and extensions", (t) => {
  const m = parseManifest(bytes(recipeManifest));
  t.is(m.label, 'Ubuntu 22.04 base installation');
  t.is(m.description, 'Minimal packages selected, DHCP network configuration.\n');
  t.deepEqual(m.blobs['layer-0'], {
    digest: D1,
    size: 941229060,
    attrs: { 'org.tockos.treadmill.image.qemu_layered_v0.blob-virtual-size': '5368709120' },
  });
});

const invalid: Array<[string, string, RegExp]> = [
  ['bad TOML', 'manifest_version = = 0', /bad TOML/],
  ['no base extension', recipeManifest.replace('"org.tockos.treadmill.manifest-ext.base", ', ''), /lacks/],
  [
    'manifest_version as a string',
    recipeManifest.replace('manifest_version = 0', 'manifest_version = "0"'),
    /must be an integer/,
  ],
  [
    'an unknown manifest_version',
    recipeManifest.replace('manifest_version = 0', 'manifest_version = 1'),
    /unsupported/,
  ],
  ['a bad blob digest', recipeManifest.replace(D1, D1.toUpperCase()), /digest must be 64 lower-case hex/],
  ['a short blob digest', recipeManifest.replace(D1, 'abc'), /digest/],
  ['a negative size', recipeManifest.replace('941229060', '-1'), /size/],
  [
    'a negative revision (upstream reads a usize)',
    recipeManifest.replace('base.revision" = 0', 'base.revision" = -5'),
    /revision must be a non-negative integer, got -5/,
  ],
  ['a size beyond 2^53', recipeManifest.replace('941229060', '9223372036854775807'), /too large/],
  [
    'a missing label',
    recipeManifest.replace(/^"org\.tockos\.treadmill\.manifest-ext\.base\.label".*$/m, ''),
    /missing label/,
  ],
  ['a non-string attr', recipeManifest.replace('= "layer-0"', '= 0'), /must be a string/],
  ['invalid UTF-8', '', /UTF-8/],
];

for (const [what, doc, re] of invalid) {
  test(`the reader rejects a manifest with ${what}`, (t) => {
    const input = what === 'invalid UTF-8' ? Buffer.from([0x61, 0x20, 0x3d, 0x20, 0x22, 0xff, 0x22]) : bytes(doc);
    const err = t.throws(() => parseManifest(input), { instanceOf: ValidationError });
    t.regex(err.message, re);
  });
}

const limits: Array<[string, (m: Manifest) => void, RegExp]> = [
  [
    'a label over 64 bytes',
    (m) => {
      m.label = 'é'.repeat(33);
    },
    /label is 66 bytes, at most 64/,
  ],
  [
    'a description over 64 KiB',
    (m) => {
      m.description = 'x'.repeat(65537);
    },
    /description is 65537 bytes/,
  ],
  [
    'more than 4096 blobs',
    (m) => {
      m.blobs = Object.fromEntries(
        Array.from({ length: 4097 }, (_, i) => [`b${i}`, { digest: D1, size: 1, attrs: {} }]),
      );
    },
    /4097 blobs, at most 4096/,
  ],
  [
    'a blob name with a dot',
    (m) => {
      m.blobs = { 'a.b': { digest: D1, size: 1, attrs: {} } };
    },
    /blob name "a.b"/,
  ],
  [
    'a blob name over 64 chars',
    (m) => {
      m.blobs = { ['x'.repeat(65)]: { digest: D1, size: 1, attrs: {} } };
    },
    /blob name/,
  ],
  [
    'an empty blob name',
    (m) => {
      m.blobs = { '': { digest: D1, size: 1, attrs: {} } };
    },
    /blob name ""/,
  ],
  [
    'an attr name over 64 bytes',
    (m) => {
      m.attrs = { ['k'.repeat(65)]: 'v' };
    },
    /attr name .* 65 bytes/,
  ],
  [
    'an attr value over 64 KiB',
    (m) => {
      m.attrs = { k: 'v'.repeat(65537) };
    },
    /attr "k" value is 65537 bytes/,
  ],
  [
    'a blob attr value over 64 KiB',
    (m) => {
      m.blobs['layer-0']!.attrs = { k: 'v'.repeat(65537) };
    },
    /blob layer-0 attr "k" value/,
  ],
  [
    'a lone surrogate',
    (m) => {
      m.label = 'a\uD800';
    },
    /not valid Unicode/,
  ],
  [
    'a negative revision',
    (m) => {
      m.revision = -1;
    },
    /revision must be a non-negative integer, got -1/,
  ],
  [
    'a negative blob size',
    (m) => {
      m.blobs['layer-0']!.size = -1;
    },
    /blob layer-0: size must be a non-negative integer, got -1/,
  ],
];

for (const [what, mutate, re] of limits) {
  test(`the writer refuses ${what}`, (t) => {
    const m = sample();
    mutate(m);
    const err = t.throws(() => serializeManifest(m), { instanceOf: ValidationError });
    t.regex(err.message, re);
  });
}

test('limits are inclusive: 64-byte label, 64 KiB description and 4096 blobs are accepted', (t) => {
  const m = sample();
  m.label = 'l'.repeat(64);
  m.description = 'd'.repeat(65536);
  m.blobs = Object.fromEntries(Array.from({ length: 4096 }, (_, i) => [`b${i}`, { digest: D1, size: i, attrs: {} }]));
  t.deepEqual(parseManifest(bytes(serializeManifest(m))), m);
});
