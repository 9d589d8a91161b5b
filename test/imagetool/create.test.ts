import test from 'ava';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { DIRECT_FROM } from '../../imagetool/blob-writer.js';
import { parseManifest } from '../../imagetool/index.js';
import { CLI, createSample, runCli, tempDir, verifyJson } from './helpers.js';

const sha = (b: Uint8Array | string): string => createHash('sha256').update(b).digest('hex');

test('create stores each blob under its digest, writes image.txt and prints only the image ID', async (t) => {
  const dir = await tempDir(t);
  const store = join(dir, 'store');
  await writeFile(join(dir, 'kernel'), 'kernel bytes');
  const r = await runCli([
    '--store',
    store,
    'create',
    '--label',
    'k',
    '--blob',
    `kernel=${join(dir, 'kernel')}`,
    '--attr',
    'a.b.c=x=y',
    '--blob-attr',
    'kernel:org.example.role=boot',
    '--revision',
    '7',
    '--description',
    'desc',
  ]);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /^[0-9a-f]{64}\n$/);
  const id = r.stdout.trim();
  const d = sha('kernel bytes');
  t.is(await readFile(join(store, 'blobs', d.slice(0, 2), d.slice(2, 4), d.slice(4, 6), d), 'utf8'), 'kernel bytes');
  t.is(await readFile(join(store, 'image.txt'), 'utf8'), `${id}\n`);
  const manifestBytes = await readFile(join(store, 'images', id.slice(0, 2), id.slice(2, 4), id.slice(4, 6), id));
  t.is(sha(manifestBytes), id);
  t.deepEqual(parseManifest(manifestBytes), {
    label: 'k',
    revision: 7,
    description: 'desc',
    attrs: { 'a.b.c': 'x=y' },
    blobs: { kernel: { digest: d, size: 12, attrs: { 'org.example.role': 'boot' } } },
  });
});

test('the same inputs give the same image ID in two stores, whatever the flag order', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'a'), 'A');
  await writeFile(join(dir, 'b'), 'B');
  const one = await runCli([
    '--store',
    join(dir, 's1'),
    'create',
    '--label',
    'x',
    '--blob',
    `a=${join(dir, 'a')}`,
    '--blob',
    `b=${join(dir, 'b')}`,
    '--attr',
    'k1=1',
    '--attr',
    'k2=2',
  ]);
  const two = await runCli([
    '--store',
    join(dir, 's2'),
    'create',
    '--attr',
    'k2=2',
    '--attr',
    'k1=1',
    '--blob',
    `b=${join(dir, 'b')}`,
    '--blob',
    `a=${join(dir, 'a')}`,
    '--label',
    'x',
  ]);
  t.is(one.code, 0, one.stderr);
  t.is(one.stdout, two.stdout);
});

test('create gives the golden image ID for attribute keys and blob names in mixed case and beyond ASCII', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'f1'), 'one\n');
  await writeFile(join(dir, 'f2'), 'two\n');
  const r = await runCli(
    [
      ...['--store', 'store', 'create', '--label', 'Golden'],
      ...['b=1', 'B=2', 'é=3', 'e=4', '_=5'].flatMap((a) => ['--attr', a]),
      ...['--blob', 'b=f1', '--blob', 'B=f2', '--blob-attr', 'b:Ä=x', '--blob-attr', 'b:a=y'],
    ],
    { cwd: dir },
  );
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, '9eceb1aee3a20987a4dfa4b8d2a033f88a5ff33283014a6a10a4445aa50c98d3\n');
});

test('the store defaults to $TML_IMAGE_STORE, else the current directory', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'f'), 'F');
  const viaEnv = await runCli(['create', '--label', 'e', '--blob', `f=${join(dir, 'f')}`], {
    env: { TML_IMAGE_STORE: join(dir, 'env-store') },
  });
  t.is(viaEnv.code, 0, viaEnv.stderr);
  t.true((await stat(join(dir, 'env-store', 'image.txt'))).isFile());
  const viaCwd = await runCli(['create', '--label', 'e', '--blob', 'f=f'], {
    cwd: dir,
    env: { TML_IMAGE_STORE: undefined },
  });
  t.is(viaCwd.code, 0, viaCwd.stderr);
  t.is(await readFile(join(dir, 'image.txt'), 'utf8'), viaEnv.stdout);
});

test('a large file, copied with direct writes, is stored byte for byte under its digest', async (t) => {
  const dir = await tempDir(t);
  const store = join(dir, 'store');
  // Random bytes, so a slot written at the wrong offset shows; a tail short of a block, so the padding must go.
  const bytes = randomBytes(DIRECT_FROM + 12345);
  await writeFile(join(dir, 'disk'), bytes);
  const r = await runCli(['--store', store, 'create', '--label', 'l', '--blob', `disk=${join(dir, 'disk')}`]);
  t.is(r.code, 0, r.stderr);
  const d = sha(bytes);
  t.true(bytes.equals(await readFile(join(store, 'blobs', d.slice(0, 2), d.slice(2, 4), d.slice(4, 6), d))));
  t.is((await verifyJson(store)).code, 0);
});

test('adding a blob the store already holds leaves the stored file untouched', async (t) => {
  const dir = await tempDir(t);
  const store = join(dir, 'store');
  await createSample(t, store, dir, { x: 'same' }, 'first');
  const d = sha('same');
  const path = join(store, 'blobs', d.slice(0, 2), d.slice(2, 4), d.slice(4, 6), d);
  const before = await stat(path);
  await createSample(t, store, dir, { y: 'same' }, 'second');
  const after = await stat(path);
  t.is(after.ino, before.ino);
  t.is(after.mtimeMs, before.mtimeMs);
});

test('build reads a spec file, resolving paths and description_file against its directory', async (t) => {
  const dir = await tempDir(t);
  const specDir = join(dir, 'spec');
  const { mkdir } = await import('node:fs/promises');
  await mkdir(specDir);
  await writeFile(join(specDir, 'boot.sh'), '#!/bin/sh\n');
  await writeFile(join(specDir, 'README.md'), '# Demo\n');
  await writeFile(
    join(specDir, 'image.toml'),
    `label = "Spec image"\nrevision = 2\ndescription_file = "README.md"\n[attrs]\n"org.tockos.treadmill.image.local_v0.entrypoint" = "boot"\n[blobs.boot]\npath = "boot.sh"\n[blobs.boot.attrs]\n"some.key" = "value"\n`,
  );
  const built = await runCli(['--store', join(dir, 'a'), 'build', join(specDir, 'image.toml')], { cwd: dir });
  t.is(built.code, 0, built.stderr);
  const created = await runCli([
    '--store',
    join(dir, 'b'),
    'create',
    '--label',
    'Spec image',
    '--revision',
    '2',
    '--description-file',
    join(specDir, 'README.md'),
    '--attr',
    'org.tockos.treadmill.image.local_v0.entrypoint=boot',
    '--blob',
    `boot=${join(specDir, 'boot.sh')}`,
    '--blob-attr',
    'boot:some.key=value',
  ]);
  t.is(created.stdout, built.stdout);
});

test('build of the shipped example spec succeeds and verifies', async (t) => {
  const dir = await tempDir(t);
  const example = new URL('../../../examples/imagetool/image.toml', import.meta.url).pathname;
  const r = await runCli(['--store', dir, 'build', example]);
  t.is(r.code, 0, r.stderr);
  t.is((await verifyJson(dir)).code, 0);
});

test('build rejects a spec with an unknown key, naming it', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'f'), 'F');
  await writeFile(join(dir, 's.toml'), 'label = "x"\nrevison = 2\n[blobs.f]\npath = "f"\n');
  const r = await runCli(['--store', join(dir, 'store'), 'build', join(dir, 's.toml')]);
  t.is(r.code, 1);
  t.regex(r.stderr, /^tml-imagetool: .*s\.toml: spec: unknown key "revison"/);
  t.is(r.stderr.split('\n').length, 2);
});

test('build refuses a negative revision, which upstream cannot read, and writes nothing', async (t) => {
  const dir = await tempDir(t);
  const store = join(dir, 'store');
  await writeFile(join(dir, 'f'), 'F');
  await writeFile(join(dir, 's.toml'), 'label = "x"\nrevision = -5\n[blobs.f]\npath = "f"\n');
  const r = await runCli(['--store', store, 'build', join(dir, 's.toml')]);
  t.is(r.code, 1);
  t.regex(r.stderr, /^tml-imagetool: .*s\.toml: spec: revision must be a non-negative integer, got -5\n$/);
  await t.throwsAsync(stat(store));
});

const limitCases: Array<[string, string[], RegExp]> = [
  ['a label over 64 bytes', ['--label', 'x'.repeat(65)], /label is 65 bytes, at most 64/],
  ['a description over 64 KiB', ['--label', 'x', '--description', 'd'.repeat(65537)], /description is 65537 bytes/],
  ['an invalid blob name', ['--label', 'x', '--blob', 'bad.name=FILE'], /blob name "bad.name"/],
  ['a blob name over 64 characters', ['--label', 'x', '--blob', `${'n'.repeat(65)}=FILE`], /blob name/],
  ['an attr name over 64 bytes', ['--label', 'x', '--attr', `${'k'.repeat(65)}=v`], /attr name .* 65 bytes/],
  ['an attr value over 64 KiB', ['--label', 'x', '--attr', `k=${'v'.repeat(65537)}`], /value is 65537 bytes/],
  [
    'a blob attr value over 64 KiB',
    ['--label', 'x', '--blob-attr', `ok:k=${'v'.repeat(65537)}`],
    /blob ok attr "k" value is 65537 bytes/,
  ],
];

for (const [what, flags, re] of limitCases) {
  test(`create refuses ${what} before writing anything`, async (t) => {
    const dir = await tempDir(t);
    const store = join(dir, 'store');
    await writeFile(join(dir, 'FILE'), 'content');
    const args = [
      '--store',
      store,
      'create',
      '--blob',
      `ok=${join(dir, 'FILE')}`,
      ...flags.map((f) => f.replace('=FILE', `=${join(dir, 'FILE')}`)),
    ];
    const r = await runCli(args);
    t.is(r.code, 1, r.stderr);
    t.regex(r.stderr, re);
    t.is(r.stderr.trim().split('\n').length, 1);
    t.is(r.stdout, '');
    await t.throwsAsync(readdir(store));
  });
}

test('create refuses more than 4096 blobs before writing anything', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'f'), 'F');
  const blobTables = Array.from({ length: 4097 }, (_, i) => `[blobs.b${i}]\npath = "f"\n`);
  await writeFile(join(dir, 'spec.toml'), `label = "many"\n${blobTables.join('')}`);
  const r = await runCli(['--store', join(dir, 'store'), 'build', join(dir, 'spec.toml')]);
  t.is(r.code, 1);
  t.regex(r.stderr, /4097 blobs, at most 4096/);
  await t.throwsAsync(readdir(join(dir, 'store')));
});

test('a missing blob file is one clear error and nothing is written', async (t) => {
  const dir = await tempDir(t);
  const r = await runCli(['--store', join(dir, 'store'), 'create', '--label', 'x', '--blob', `a=${join(dir, 'nope')}`]);
  t.is(r.code, 1);
  t.regex(r.stderr, /^tml-imagetool: cannot read blob a from .*nope: no such file or directory\n$/);
  await t.throwsAsync(readdir(join(dir, 'store')));
});

const usageCases: Array<[string, string[]]> = [
  ['an unknown command', ['frobnicate']],
  ['an unknown flag', ['list', '--bogus']],
  ['no command', []],
  ['a malformed --attr', ['create', '--label', 'x', '--blob', 'a=/dev/null', '--attr', 'novalue']],
  ['a duplicate --blob name', ['create', '--label', 'x', '--blob', 'a=/dev/null', '--blob', 'a=/dev/null']],
  ['a --blob-attr for an unknown blob', ['create', '--label', 'x', '--blob', 'a=/dev/null', '--blob-attr', 'b:k=v']],
  ['a non-numeric --revision', ['create', '--label', 'x', '--blob', 'a=/dev/null', '--revision', 'two']],
  ['a missing required flag', ['create', '--blob', 'a=/dev/null']],
];

for (const [what, args] of usageCases) {
  test(`${what} is a usage error: one line on stderr, exit 2`, async (t) => {
    const dir = await tempDir(t);
    const r = await runCli(['--store', dir, ...args]);
    t.is(r.code, 2);
    t.regex(r.stderr, /^tml-imagetool: [^\n]+\n$/);
  });
}

test('--help lists every command', async (t) => {
  const r = await runCli(['--help']);
  t.is(r.code, 0);
  for (const cmd of ['create', 'build', 'verify', 'index', 'list', 'show', 'copy', 'gc', 'layer'])
    t.regex(r.stdout, new RegExp(`tml-imagetool ${cmd}`));
});

test('no progress output when stderr is not a terminal', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'f'), Buffer.alloc(3 << 20));
  const r = await runCli([
    '--store',
    join(dir, 'store'),
    'create',
    '--label',
    'quiet pipe',
    '--blob',
    `f=${join(dir, 'f')}`,
  ]);
  t.is(r.code, 0);
  t.is(r.stderr, '');
});

test('a progress bar is drawn on a terminal, and cleared before the image ID is printed', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'f'), Buffer.alloc(3 << 20));
  const { execFile } = await import('node:child_process');
  const command = [
    process.execPath,
    CLI,
    '--store',
    join(dir, 'store'),
    'create',
    '--label',
    'tty',
    '--blob',
    `f=${join(dir, 'f')}`,
  ]
    .map((a) => `'${a}'`)
    .join(' ');
  // script(1) runs the command on a pseudo-terminal and copies what it draws to stdout.
  const drawn = await new Promise<string>((resolve, reject) => {
    execFile('script', ['-qfec', command, '/dev/null'], (err, stdout) => (err ? reject(err) : resolve(stdout)));
  });
  t.regex(drawn, /hashing \[[=-]+\] \d+% \| [\d.]+ (B|KiB|MiB) \/ 3\.0 MiB/);
  t.regex(drawn, /\x1b\[2K[0-9a-f]{64}\r?\n/);
});
