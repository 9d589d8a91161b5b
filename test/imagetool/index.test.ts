import test from 'ava';
import { execFile, spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, normalize } from 'node:path';
import { promisify } from 'node:util';
import { listIndexEntries } from '../../imagetool/index.js';
import { createSample, runCli, tempDir, verifyJson } from './helpers.js';

const sh = promisify(execFile);

async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((r) => child.on('exit', r));
  return child.pid!;
}

async function sampleStore(t: Parameters<typeof tempDir>[0]): Promise<{ dir: string; store: string }> {
  const dir = await tempDir(t);
  const store = join(dir, 'store');
  await createSample(t, store, dir, { boot: 'boot\n', disk: Buffer.alloc(70_000, 3) }, 'one');
  await createSample(t, store, dir, { boot: 'other boot\n' }, 'two');
  return { dir, store };
}

test('index writes all.txt with exactly what find lists, sorted, minus temp leftovers', async (t) => {
  const { store } = await sampleStore(t);
  await writeFile(join(store, 'README.md'), 'store notes\n');
  await writeFile(join(store, 'blobs', `.tmp-${await deadPid()}-00aa`), 'partial');
  const r = await runCli(['--store', store, 'index']);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /^wrote all\.txt: 6 file\(s\)\n$/);
  const { stdout: found } = await sh(
    'bash',
    [
      '-c',
      "find -type f ! -path './image.txt' ! -path './all.txt' ! -path './.imagetool/*' ! -name '.tmp-*' | LC_ALL=C sort",
    ],
    { cwd: store },
  );
  t.is(await readFile(join(store, 'all.txt'), 'utf8'), found);
  t.true(found.includes('./README.md\n'));
});

test('the index leaves out image.txt, all.txt and live temp files, and lists lines starting with ./', async (t) => {
  const { store } = await sampleStore(t);
  await writeFile(join(store, 'all.txt'), 'stale\n');
  await writeFile(join(store, `.tmp-${process.pid}-0011`), 'being written');
  const { lines } = listIndexEntries(store);
  t.true(lines.every((l) => l.startsWith('./blobs/') || l.startsWith('./images/')));
  t.is(lines.length, 5);
  t.deepEqual(lines, [...lines].sort());
});

test('index on an empty store writes an empty all.txt', async (t) => {
  const dir = await tempDir(t);
  const r = await runCli(['--store', dir, 'index', '--json']);
  t.deepEqual(JSON.parse(r.stdout), { files: 0, skipped: [] });
  t.is(await readFile(join(dir, 'all.txt'), 'utf8'), '');
});

/** A minimal static file server, as a mirror would run: octet-stream for everything, 404 for the rest. */
function serve(root: string): Promise<Server> {
  const server = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname));
    const file = join(root, path);
    stat(file)
      .then((st) => {
        if (!st.isFile()) throw new Error('not a file');
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': st.size });
        createReadStream(file).pipe(res);
      })
      .catch(() => {
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end('not found\n');
      });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

// docs/image-store.md's mirror command, verbatim except for the mirror's address.
const MIRROR_COMMAND = `wget -r -p -E -K -np -nH -nc --content-disposition --trust-server-names \\
  --no-http-keep-alive -i <(wget -O- -o/dev/null https://MIRROR/all.txt \\
  | sed 's|^\\./|https://MIRROR/|')`;

test("a store indexed by the tool mirrors with the spec's wget command, byte for byte", async (t) => {
  const { dir, store } = await sampleStore(t);
  t.is((await runCli(['--store', store, 'index'])).code, 0);
  const server = await serve(store);
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const port = (server.address() as AddressInfo).port;
  const mirror = join(dir, 'mirror');
  await mkdir(mirror);
  const command = MIRROR_COMMAND.replaceAll('https://MIRROR', `http://127.0.0.1:${port}`);
  await sh('bash', ['-c', command], { cwd: mirror });
  const lines = (await readFile(join(store, 'all.txt'), 'utf8')).trimEnd().split('\n');
  const { stdout: mirrored } = await sh('bash', ['-c', 'find -type f | LC_ALL=C sort'], { cwd: mirror });
  t.deepEqual(mirrored.trimEnd().split('\n'), lines);
  for (const line of lines)
    t.true((await readFile(join(mirror, line))).equals(await readFile(join(store, line))), line);
  t.is((await verifyJson(mirror)).code, 0);
});
