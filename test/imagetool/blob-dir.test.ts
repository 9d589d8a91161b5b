import test from 'ava';
import { execFile } from 'node:child_process';
import fc from 'fast-check';
import { chmod, chown, link, mkdir, readdir, readFile, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { blobPath, readManifest } from '../../imagetool/index.js';
import { ImageToolError } from '../../imagetool/errors.js';
import { parseSpec } from '../../imagetool/spec-file.js';
import { parseSourceDateEpoch } from '../../imagetool/tar-dir.js';
import { COMPRESSION_ATTR } from '../../protocol/image-manifest.js';
import { ValidationError } from '../../protocol/validation.js';
import { stringify } from 'smol-toml';
import { haveTool, runCli, tempDir, verifyJson } from './helpers.js';

const sh = promisify(execFile);
const gnuTar = haveTool('GNU tar', 'tar', ['--version'], 'apt-get install tar') ? test : test.skip;
const zstdTool = haveTool('zstd', 'zstd', ['--version'], 'apt-get install zstd') ? test : test.skip;

interface Node {
  path: string;
  content?: string;
  link?: string;
  mode: number;
}

const TREE: Node[] = [
  { path: 'boot', mode: 0o755 },
  { path: 'boot/config.txt', content: 'arm_64bit=1\n', mode: 0o644 },
  { path: 'boot/cmdline.txt', content: 'console=serial0 root=/dev/nbd0\n', mode: 0o600 },
  { path: 'boot/overlays', mode: 0o700 },
  { path: 'boot/overlays/empty.dtbo', content: '', mode: 0o644 },
  { path: 'boot-b', content: 'a sibling whose name sorts between boot and boot/', mode: 0o755 },
  { path: 'kernel8.img', content: 'k'.repeat(70_000), mode: 0o644 },
  { path: 'latest', link: 'boot/config.txt', mode: 0o777 },
];

/** Makes TREE under dir in the given order, with this copy's own mtimes and owner. */
async function makeTree(dir: string, order: Node[], stamp: number, owner: number): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const n of order) {
    const p = join(dir, n.path);
    await mkdir(join(p, '..'), { recursive: true });
    if (n.link !== undefined) await symlink(n.link, p);
    else if (n.content !== undefined) await writeFile(p, n.content);
    else await mkdir(p, { recursive: true });
  }
  for (const n of [...order].reverse()) {
    const p = join(dir, n.path);
    if (n.link !== undefined) continue;
    await chmod(p, n.mode);
    await chown(p, owner, owner);
    await utimes(p, stamp, stamp);
  }
}

async function createDirImage(store: string, dir: string, extra: string[] = [], env: NodeJS.ProcessEnv = {}) {
  const r = await runCli(['--store', store, 'create', '--label', 'netboot', '--blob-dir', `boot=${dir}`, ...extra], {
    env,
  });
  return r;
}

test('two copies of a tree made at other times, by other owners, in another order, give the same blob', async (t) => {
  const dir = await tempDir(t);
  await makeTree(join(dir, 'one'), TREE, 1_000_000, 0);
  await makeTree(join(dir, 'two'), [...TREE].reverse(), 1_700_000_000, 1234);
  const a = await createDirImage(join(dir, 's1'), join(dir, 'one'));
  const b = await createDirImage(join(dir, 's2'), join(dir, 'two'));
  t.is(a.code, 0, a.stderr);
  t.is(b.code, 0, b.stderr);
  t.is(a.stdout, b.stdout, 'same image ID');
  const digest = (await readManifest(join(dir, 's1'), a.stdout.trim())).blobs.boot!.digest;
  t.true((await readFile(blobPath(join(dir, 's1'), digest))).equals(await readFile(blobPath(join(dir, 's2'), digest))));
  t.is((await verifyJson(join(dir, 's1'))).code, 0);
});

gnuTar(
  'GNU tar lists the archive in byte order with fixed mtime, owner 0 and modes kept, and extracts it',
  async (t) => {
    const dir = await tempDir(t);
    await makeTree(join(dir, 'tree'), TREE, 1_600_000_000, 1234);
    const store = join(dir, 'store');
    const r = await createDirImage(store, join(dir, 'tree'), [], { SOURCE_DATE_EPOCH: '86400' });
    t.is(r.code, 0, r.stderr);
    const blob = blobPath(store, (await readManifest(store, r.stdout.trim())).blobs.boot!.digest);
    const { stdout } = await sh('tar', ['--numeric-owner', '--full-time', '-tvf', blob], { env: { TZ: 'UTC' } });
    t.deepEqual(stdout.trimEnd().split('\n'), [
      'drwxr-xr-x 0/0               0 1970-01-02 00:00:00 boot/',
      '-rwxr-xr-x 0/0              49 1970-01-02 00:00:00 boot-b',
      '-rw------- 0/0              31 1970-01-02 00:00:00 boot/cmdline.txt',
      '-rw-r--r-- 0/0              12 1970-01-02 00:00:00 boot/config.txt',
      'drwx------ 0/0               0 1970-01-02 00:00:00 boot/overlays/',
      '-rw-r--r-- 0/0               0 1970-01-02 00:00:00 boot/overlays/empty.dtbo',
      '-rw-r--r-- 0/0           70000 1970-01-02 00:00:00 kernel8.img',
      'lrwxrwxrwx 0/0               0 1970-01-02 00:00:00 latest -> boot/config.txt',
    ]);
    // Without --numeric-owner tar shows user and group names where the archive has any.
    const { stdout: named } = await sh('tar', ['-tvf', blob]);
    t.true(
      named
        .trimEnd()
        .split('\n')
        .every((l) => l.split(/\s+/)[1] === '0/0'),
    );
    const out = join(dir, 'out');
    await mkdir(out);
    await sh('tar', ['-x', '-C', out, '-f', blob]);
    t.is(await readFile(join(out, 'boot/cmdline.txt'), 'utf8'), 'console=serial0 root=/dev/nbd0\n');
    t.is(await readFile(join(out, 'latest'), 'utf8'), 'arm_64bit=1\n');
    t.deepEqual((await readdir(join(out, 'boot/overlays'))).sort(), ['empty.dtbo']);
  },
);

zstdTool('--zstd compresses the tar, records it in a blob attribute, and GNU tar extracts it as is', async (t) => {
  const dir = await tempDir(t);
  await makeTree(join(dir, 'tree'), TREE, 1_600_000_000, 0);
  const store = join(dir, 'store');
  const r = await createDirImage(store, join(dir, 'tree'), ['--zstd']);
  t.is(r.code, 0, r.stderr);
  const spec = (await readManifest(store, r.stdout.trim())).blobs.boot!;
  t.deepEqual(spec.attrs, { [COMPRESSION_ATTR]: 'zstd' });
  t.true(spec.size < 2000, `the repetitive kernel compresses (${spec.size} bytes)`);
  const out = join(dir, 'out');
  await mkdir(out);
  await sh('tar', ['-x', '-C', out, '-f', blobPath(store, spec.digest)]);
  t.is(await readFile(join(out, 'kernel8.img'), 'utf8'), 'k'.repeat(70_000));
});

test('a spec file packs [blobs.NAME] dir = "..." like --blob-dir', async (t) => {
  const dir = await tempDir(t);
  await makeTree(join(dir, 'tree'), TREE, 1_600_000_000, 0);
  await writeFile(join(dir, 'image.toml'), 'label = "netboot"\n[blobs.boot]\ndir = "tree"\n');
  const built = await runCli(['--store', join(dir, 's1'), 'build', join(dir, 'image.toml')]);
  const created = await createDirImage(join(dir, 's2'), join(dir, 'tree'));
  t.is(built.code, 0, built.stderr);
  t.is(built.stdout, created.stdout);
});

const refusals: Array<[string, (root: string) => Promise<void>, RegExp]> = [
  [
    'a hard link',
    async (root) => {
      await writeFile(join(root, 'a'), 'x');
      await link(join(root, 'a'), join(root, 'b'));
    },
    /a has 2 hard links; a reproducible archive keeps no hard links/,
  ],
  [
    'a FIFO',
    async (root) => void (await sh('mkfifo', [join(root, 'pipe')])),
    /pipe is a FIFO; a blob directory may hold files, directories and symlinks only/,
  ],
  [
    'an absolute symlink',
    (root) => symlink('/etc/passwd', join(root, 'abs')),
    /abs is a symlink to "\/etc\/passwd", which leads out of/,
  ],
  [
    'a symlink climbing out',
    async (root) => {
      await mkdir(join(root, 'sub'));
      await symlink('../../outside', join(root, 'sub', 'up'));
    },
    /up is a symlink to "\.\.\/\.\.\/outside", which leads out of/,
  ],
];

for (const [what, make, message] of refusals) {
  test(`a blob directory holding ${what} is refused with a clear error and nothing is written`, async (t) => {
    const dir = await tempDir(t);
    const root = join(dir, 'tree');
    await mkdir(root);
    await make(root);
    const store = join(dir, 'store');
    const r = await createDirImage(store, root);
    t.is(r.code, 1);
    t.regex(r.stderr, /^tml-imagetool: [^\n]+\n$/);
    t.regex(r.stderr, message);
    await t.throwsAsync(readdir(join(store, 'images')));
  });
}

test('a symlink that stays inside the tree is kept, even through ..', async (t) => {
  const dir = await tempDir(t);
  const root = join(dir, 'tree');
  await mkdir(join(root, 'a'), { recursive: true });
  await writeFile(join(root, 'f'), 'f');
  await symlink('../f', join(root, 'a', 'up'));
  t.is((await createDirImage(join(dir, 'store'), root)).code, 0);
});

test('a malformed SOURCE_DATE_EPOCH is a one-line error', async (t) => {
  const dir = await tempDir(t);
  await mkdir(join(dir, 'tree'));
  const r = await createDirImage(join(dir, 'store'), join(dir, 'tree'), [], { SOURCE_DATE_EPOCH: 'yesterday' });
  t.is(r.code, 1);
  t.is(
    r.stderr,
    'tml-imagetool: SOURCE_DATE_EPOCH "yesterday" must be whole seconds since 1970 (at most 8589934591)\n',
  );
});

test('--zstd without --blob-dir is a usage error', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'f'), 'f');
  const r = await runCli([
    '--store',
    join(dir, 's'),
    'create',
    '--label',
    'x',
    '--blob',
    `f=${join(dir, 'f')}`,
    '--zstd',
  ]);
  t.is(r.code, 2);
  t.regex(r.stderr, /--zstd compresses --blob-dir blobs; there is none/);
});

test('SOURCE_DATE_EPOCH parsing gives seconds or our error for any text', (t) => {
  fc.assert(
    fc.property(fc.option(fc.string({ unit: 'binary', maxLength: 30 }), { nil: undefined }), (value) => {
      try {
        const n = parseSourceDateEpoch(value);
        return Number.isSafeInteger(n) && n >= 0 && n <= 8 ** 11 - 1;
      } catch (err) {
        return err instanceof ImageToolError;
      }
    }),
  );
  t.is(parseSourceDateEpoch('1700000000'), 1_700_000_000);
  t.is(parseSourceDateEpoch(undefined), 0);
});

test('a spec file with any keys and values gives a create input or our one-line error', (t) => {
  const value = fc.oneof(
    fc.string({ maxLength: 8 }),
    fc.integer(),
    fc.boolean(),
    fc.array(fc.string({ maxLength: 4 }), { maxLength: 2 }),
    fc.dictionary(fc.string({ maxLength: 6 }), fc.string({ maxLength: 6 }), { maxKeys: 2 }),
  );
  const blobKey = fc.constantFrom('path', 'dir', 'zstd', 'attrs', 'size', 'Path');
  const blob = fc.dictionary(blobKey, value, { maxKeys: 4 });
  const doc = fc.record(
    {
      label: value,
      revision: value,
      description: value,
      attrs: value,
      blobs: fc.oneof(value, fc.dictionary(fc.string({ minLength: 1, maxLength: 6 }), blob, { maxKeys: 3 })),
      extra: value,
    },
    { requiredKeys: [] },
  );
  fc.assert(
    fc.property(doc, (d) => {
      try {
        const { input } = parseSpec(stringify(d), '/spec');
        return Object.values(input.blobs).every((b) => (b.dir ?? b.path)!.startsWith('/'));
      } catch (err) {
        return err instanceof ValidationError && !err.message.includes('\n');
      }
    }),
  );
  t.pass();
});

test('any text as a spec file gives a create input or a one-line ValidationError', (t) => {
  const text = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 80 }),
    fc
      .array(fc.constantFrom('label = "x"\n', '[blobs.a]\n', 'path = "f"\n', 'revision = ', '"\\u', '= [', '\n'), {
        maxLength: 8,
      })
      .map((parts) => parts.join('')),
  );
  fc.assert(
    fc.property(text, (s) => {
      try {
        parseSpec(s, '/spec');
        return true;
      } catch (err) {
        return err instanceof ValidationError && !err.message.includes('\n');
      }
    }),
    { numRuns: 300 },
  );
  t.pass();
});

test('a TOML syntax error in a spec names its line and column', (t) => {
  const err = t.throws(() => parseSpec('label = "x"\nrevision = = 2\n', '/spec'), { instanceOf: ValidationError });
  t.is(err.message, 'bad TOML at line 2, column 12: invalid value');
});
