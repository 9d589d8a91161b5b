import test from 'ava';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { createImage, imageRelPath } from '../../imagetool/index.js';
import { createSample, runCli, tempDir } from './helpers.js';

test('list prints ID, revision, blob count, total size and label for every image', async (t) => {
  const dir = await tempDir(t);
  const store = join(dir, 'store');
  const a = await createSample(t, store, dir, { x: 'aaaa', y: 'bb' }, 'alpha');
  const b = await createSample(t, store, dir, { x: 'c' }, 'beta');
  const text = await runCli(['--store', store, 'list']);
  t.is(text.code, 0);
  const lines = text.stdout.trimEnd().split('\n');
  t.regex(lines[0]!, /^ID +REVISION +BLOBS +SIZE +LABEL$/);
  t.regex(lines[1]!, new RegExp(`^${a} +0 +2 +6 B +alpha$`));
  t.regex(lines[2]!, new RegExp(`^${b} +0 +1 +1 B +beta$`));
  const json = await runCli(['--store', store, 'list', '--json']);
  t.deepEqual(JSON.parse(json.stdout), [
    { id: a, label: 'alpha', revision: 0, blobCount: 2, totalSize: 6 },
    { id: b, label: 'beta', revision: 0, blobCount: 1, totalSize: 1 },
  ]);
});

test('list answers the same however its flags are spelled or placed', async (t) => {
  const dir = await tempDir(t);
  const store = join(dir, 'store');
  await createSample(t, store, dir, { x: 'aaaa' }, 'alpha');
  await createSample(t, store, dir, { x: 'c' }, 'Beta');
  const spellings = [
    ['list', '--store', store],
    ['--store', store, 'list'],
    ['list', `--store=${store}`],
    ['-q', 'list', '--store', store],
  ];
  const texts = await Promise.all(spellings.map((words) => runCli(words)));
  for (const r of texts) t.deepEqual(r, texts[0]);
  const jsons = await Promise.all(spellings.map((words) => runCli([...words, '--json'])));
  for (const r of jsons) t.deepEqual(r, jsons[0]);
  t.deepEqual(
    await runCli(['list', '--store', join(dir, 'none')]),
    await runCli(['list', `--store=${join(dir, 'none')}`]),
  );
});

test('show summarises a manifest; --raw prints its exact bytes; --json the parsed fields', async (t) => {
  const dir = await tempDir(t);
  const store = join(dir, 'store');
  const id = await createSample(t, store, dir, { boot: 'x' }, 'shown');
  const text = await runCli(['--store', store, 'show', id]);
  t.regex(text.stdout, new RegExp(`^id: +${id}\nlabel: +shown\nrevision: +0\n`));
  const raw = await runCli(['--store', store, 'show', '--raw', id]);
  t.is(raw.stdout, await readFile(join(store, imageRelPath(id)), 'utf8'));
  const json = JSON.parse((await runCli(['--store', store, 'show', '--json', id])).stdout) as {
    id: string;
    blobs: Record<string, { size: number }>;
  };
  t.is(json.id, id);
  t.is(json.blobs.boot!.size, 1);
});

test('an unambiguous ID prefix is accepted; an ambiguous or unknown one is a clear error', async (t) => {
  const dir = await tempDir(t);
  const store = join(dir, 'store');
  const ids: string[] = [];
  // 17 images guarantee two share a first hex digit.
  for (let i = 0; i < 17; i++) {
    await writeFile(join(dir, `f${i}`), `content ${i}`);
    ids.push(await createImage(store, { label: `img${i}`, blobs: { x: { path: join(dir, `f${i}`) } } }));
  }
  const first = ids[0]!;
  const ok = await runCli(['--store', store, 'show', '--json', first.slice(0, 12)]);
  t.is(JSON.parse(ok.stdout).id, first);
  const shared = ids.find((id, i) => ids.some((o, j) => j !== i && o[0] === id[0]))!;
  const ambiguous = await runCli(['--store', store, 'show', shared[0]!]);
  t.is(ambiguous.code, 1);
  t.regex(ambiguous.stderr, /^tml-imagetool: image ID prefix . is ambiguous: \d+ images match/);
  const unknown = await runCli(['--store', store, 'show', 'zz']);
  t.regex(unknown.stderr, /not an image ID/);
  const missing = await runCli(['--store', store, 'show', ids.some((id) => id.startsWith('0000')) ? 'ffff' : '0000']);
  t.regex(missing.stderr, /^tml-imagetool: no image/);
});

test('commands on a store directory that does not exist fail with one line', async (t) => {
  const dir = await tempDir(t);
  for (const cmd of [['list'], ['verify'], ['index'], ['gc']]) {
    const r = await runCli(['--store', join(dir, 'absent'), ...cmd]);
    t.is(r.code, 1);
    t.regex(r.stderr, /^tml-imagetool: cannot open store .*absent: no such file or directory\n$/);
  }
});
