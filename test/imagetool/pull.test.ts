import test, { type ExecutionContext } from 'ava';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { parseIndexLine } from '../../imagetool/all-txt.js';
import { parseContentLength, parseContentRange } from '../../imagetool/http.js';
import { blobRelPath, imagePath, imageRelPath, listIndexEntries, readManifest } from '../../imagetool/index.js';
import { canMountTmpfs, createSample, haveTool, runCli, smallDisk, startCli, tempDir, verifyJson } from './helpers.js';
import { MirrorServer } from './mirror-server.js';

const sh = promisify(execFile);
const BIG = 3 << 20;

/** A mirror's store: image "os" (a 3 MiB disk and a boot file), image "app" sharing the boot file, all.txt. */
async function mirrorStore(t: ExecutionContext) {
  const dir = await tempDir(t);
  const src = join(dir, 'mirror');
  const os = await createSample(t, src, dir, { disk: randomBytes(BIG), boot: 'boot\n' }, 'os');
  const app = await createSample(t, src, dir, { boot: 'boot\n', app: 'app v1\n' }, 'app');
  await writeFile(join(src, 'README.md'), 'a mirror\n');
  t.is((await runCli(['--store', src, 'index'])).code, 0);
  const osManifest = await readManifest(src, os);
  const server = await MirrorServer.start(t, src);
  return {
    dir,
    src,
    os,
    app,
    server,
    diskRel: blobRelPath(osManifest.blobs.disk!.digest),
    dst: join(dir, 'pulled'),
  };
}

async function partials(store: string): Promise<string[]> {
  return readdir(join(store, '.imagetool', 'partial')).catch(() => []);
}

async function storeFiles(store: string): Promise<string[]> {
  return listIndexEntries(store).lines;
}

test('pull --all fetches every image and blob all.txt lists, and the copy verifies', async (t) => {
  const m = await mirrorStore(t);
  const r = await runCli(['--store', m.dst, 'pull', m.server.url, '--all', '--json']);
  t.is(r.code, 0, r.stderr);
  const result = JSON.parse(r.stdout) as Record<string, unknown>;
  t.like(result, { manifestsFetched: 2, blobsFetched: 3, blobsPresent: 0, retries: 0, notPulled: ['README.md'] });
  t.deepEqual((result.images as string[]).sort(), [m.os, m.app].sort());
  t.deepEqual(
    await storeFiles(m.dst),
    (await storeFiles(m.src)).filter((l) => l !== './README.md'),
  );
  t.deepEqual((await verifyJson(m.dst)).report.findings, []);
  t.deepEqual(await partials(m.dst), []);
});

test('pull of one image (by an abbreviated ID) fetches its manifest, then only its blobs', async (t) => {
  const m = await mirrorStore(t);
  const r = await runCli(['--store', m.dst, 'pull', m.server.url, m.app.slice(0, 10)]);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout.split('\n')[0], `pulled ${m.app}`);
  t.is(m.server.requests('/blobs/').length, 2, JSON.stringify(m.server.log));
  const order = m.server.log.map((s) => s.path.split('/')[1]);
  t.deepEqual(order, ['all.txt', 'images', 'blobs', 'blobs']);
  await t.throwsAsync(stat(imagePath(m.dst, m.os)));
  t.deepEqual((await verifyJson(m.dst)).report.findings, []);
});

test('blobs already sound in the store are not fetched again', async (t) => {
  const m = await mirrorStore(t);
  t.is((await runCli(['--store', m.dst, 'pull', m.server.url, m.os])).code, 0);
  const before = m.server.log.length;
  const r = await runCli(['--store', m.dst, 'pull', m.server.url, '--all', '--json']);
  t.is(r.code, 0, r.stderr);
  t.like(JSON.parse(r.stdout), { manifestsFetched: 1, blobsFetched: 1, blobsPresent: 2 });
  t.deepEqual(
    m.server.log.slice(before).map((s) => s.path.split('/')[1]),
    ['all.txt', 'images', 'blobs'],
  );
});

for (const [what, resize] of [
  ['a truncated', (b: Buffer) => b.subarray(0, b.length - 1000)],
  ['an over-long', (b: Buffer) => Buffer.concat([b, Buffer.from('junk')])],
] as const) {
  test(`${what} blob already in the store is fetched again and replaced, not counted as present`, async (t) => {
    const m = await mirrorStore(t);
    t.is((await runCli(['--store', m.dst, 'pull', m.server.url, m.os])).code, 0);
    const good = await readFile(join(m.src, m.diskRel));
    await writeFile(join(m.dst, m.diskRel), resize(good));
    const r = await runCli(['--store', m.dst, 'pull', m.server.url, m.os, '--json']);
    t.is(r.code, 0, r.stderr);
    t.like(JSON.parse(r.stdout), { blobsFetched: 1, blobsPresent: 1 });
    t.true((await readFile(join(m.dst, m.diskRel))).equals(good));
    t.deepEqual((await verifyJson(m.dst)).report.findings, []);
  });
}

test('a connection cut in the middle of a blob is resumed with a Range request from the bytes on disk', async (t) => {
  const m = await mirrorStore(t);
  m.server.fault(`/${m.diskRel}`, { cutAfter: 1 << 20 }, 1);
  const r = await runCli(['--store', m.dst, 'pull', m.server.url, m.os, '--json']);
  t.is(r.code, 0, r.stderr);
  t.like(JSON.parse(r.stdout), { blobsFetched: 2, retries: 1 });
  const disk = m.server.requests(`/${m.diskRel}`);
  t.is(disk.length, 2);
  t.is(disk[0]!.range, undefined);
  t.regex(disk[1]!.range!, /^bytes=\d+-$/);
  t.true(Number(/\d+/.exec(disk[1]!.range!)![0]) > 0);
  t.deepEqual((await verifyJson(m.dst)).report.findings, []);
});

test('a mirror that sends wrong bytes ends the pull with one line naming the file, and nothing is kept', async (t) => {
  const m = await mirrorStore(t);
  m.server.fault(`/${m.diskRel}`, { body: randomBytes(BIG) });
  const r = await runCli(['--store', m.dst, 'pull', m.server.url, m.os]);
  t.is(r.code, 1);
  t.regex(
    r.stderr,
    new RegExp(
      `^tml-imagetool: ${m.diskRel} from ${m.server.url}${m.diskRel}: wrong bytes: the download hashes to [0-9a-f]{64}; nothing kept\\n$`,
    ),
  );
  await t.throwsAsync(stat(join(m.dst, m.diskRel)));
  await t.throwsAsync(stat(imagePath(m.dst, m.os)));
  t.false(
    (await partials(m.dst)).some((p) => m.diskRel.endsWith(p.slice(-64))),
    'no partial of the bad file',
  );
  t.deepEqual((await verifyJson(m.dst)).report.findings, []);
});

test('a file missing on the mirror (404) ends the pull with one line naming it, and the store stays sound', async (t) => {
  const m = await mirrorStore(t);
  m.server.fault(`/${m.diskRel}`, { status: 404 });
  const r = await runCli(['--store', m.dst, 'pull', m.server.url, m.os]);
  t.is(r.code, 1);
  t.is(r.stderr, `tml-imagetool: ${m.diskRel} from ${m.server.url}${m.diskRel}: not found on the mirror (HTTP 404)\n`);
  await t.throwsAsync(stat(imagePath(m.dst, m.os)));
  // Downloads the failure interrupted may keep their bytes for the next pull; the missing file has none.
  t.false((await partials(m.dst)).some((p) => m.diskRel.endsWith(p.slice(-64))));
  t.deepEqual((await verifyJson(m.dst)).report.findings, []);
});

test('a server that ignores Range when a download must resume ends with one line naming the file', async (t) => {
  const m = await mirrorStore(t);
  m.server.withoutRange();
  m.server.fault(`/${m.diskRel}`, { cutAfter: 1 << 20 }, 1);
  const r = await runCli(['--store', m.dst, 'pull', m.server.url, m.os]);
  t.is(r.code, 1);
  t.regex(
    r.stderr,
    new RegExp(`^tml-imagetool: ${m.diskRel} from \\S+: the server ignored the Range request to resume`),
  );
  t.is(r.stderr.split('\n').length, 2);
  t.false(
    (await partials(m.dst)).some((p) => m.diskRel.endsWith(p.slice(-64))),
    'the partial download is discarded',
  );
  t.deepEqual((await verifyJson(m.dst)).report.findings, []);
  // With the partial gone, the next pull fetches the file whole.
  const again = await runCli(['--store', m.dst, 'pull', m.server.url, m.os]);
  t.is(again.code, 0, again.stderr);
  t.deepEqual((await verifyJson(m.dst)).report.findings, []);
});

test('a server error (503) is retried with backoff', async (t) => {
  const m = await mirrorStore(t);
  m.server.fault(`/${m.diskRel}`, { status: 503 }, 2);
  const r = await runCli(['--store', m.dst, 'pull', m.server.url, m.os, '--json']);
  t.is(r.code, 0, r.stderr);
  t.like(JSON.parse(r.stdout), { retries: 2 });
});

test('pull killed with -9 mid-blob leaves no file under a final name, and the next pull resumes and verifies', async (t) => {
  const m = await mirrorStore(t);
  m.server.fault(`/${m.diskRel}`, { bytesPerSecond: 1 << 20 }, 1);
  const child = startCli(['--store', m.dst, 'pull', m.server.url, m.os]);
  let partial: { name: string; size: number } | undefined;
  for (let i = 0; i < 400 && partial === undefined; i++) {
    await sleep(25);
    for (const name of await partials(m.dst)) {
      const size = (await stat(join(m.dst, '.imagetool', 'partial', name)).catch(() => ({ size: 0 }))).size;
      if (size >= 256 << 10) partial = { name, size };
    }
  }
  child.kill('SIGKILL');
  await new Promise((resolve) => child.once('exit', resolve));
  t.truthy(partial, 'a partial download appeared');
  await t.throwsAsync(stat(join(m.dst, m.diskRel)));
  await t.throwsAsync(stat(imagePath(m.dst, m.os)));
  t.deepEqual(
    (await verifyJson(m.dst)).report.findings.filter((f) => f.kind !== 'temp-leftover'),
    [],
  );

  const before = m.server.log.length;
  const r = await runCli(['--store', m.dst, 'pull', m.server.url, m.os, '--json']);
  t.is(r.code, 0, r.stderr);
  const result = JSON.parse(r.stdout) as { bytesResumed: number };
  t.true(result.bytesResumed >= partial!.size, `resumed ${result.bytesResumed} bytes`);
  const resumed = m.server.log.slice(before).filter((s) => s.path === `/${m.diskRel}`);
  t.is(resumed.length, 1);
  t.regex(resumed[0]!.range ?? '', /^bytes=[1-9]\d*-$/);
  t.deepEqual((await verifyJson(m.dst)).report.findings, []);
  t.deepEqual(await partials(m.dst), []);
});

const wget = haveTool('wget', 'wget', ['--version'], 'apt-get install wget') ? test : test.skip;

// docs/image-store.md's mirror command, verbatim except for the mirror's address.
const MIRROR_COMMAND = `wget -r -p -E -K -np -nH -nc --content-disposition --trust-server-names \\
  --no-http-keep-alive -i <(wget -O- -o/dev/null https://MIRROR/all.txt \\
  | sed 's|^\\./|https://MIRROR/|')`;

wget("the book's wget command mirrors a store that was pulled (and indexed) like any other", async (t) => {
  const m = await mirrorStore(t);
  t.is((await runCli(['--store', m.dst, 'pull', m.server.url, '--all'])).code, 0);
  t.is((await runCli(['--store', m.dst, 'index'])).code, 0);
  const pulled = await MirrorServer.start(t, m.dst);
  const copy = join(m.dir, 'wget-copy');
  await mkdir(copy);
  await sh('bash', ['-c', MIRROR_COMMAND.replaceAll('https://MIRROR/', pulled.url)], { cwd: copy });
  t.deepEqual((await verifyJson(copy)).report.findings, []);
  t.true((await readFile(join(copy, imageRelPath(m.os)))).equals(await readFile(imagePath(m.src, m.os))));
  t.false(
    pulled.log.some((s) => s.path.includes('.imagetool')),
    'the state directory is never served',
  );
});

const openssl = haveTool('openssl', 'openssl', ['version'], 'apt-get install openssl') ? test : test.skip;

openssl(
  'pull from an https mirror checks its certificate: refused when untrusted, and trusted through NODE_EXTRA_CA_CERTS',
  async (t) => {
    const m = await mirrorStore(t);
    const [key, cert] = [join(m.dir, 'key.pem'), join(m.dir, 'cert.pem')];
    await sh('openssl', [
      ...['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost'],
      ...['-addext', 'subjectAltName=DNS:localhost', '-keyout', key, '-out', cert],
    ]);
    const tls = await MirrorServer.start(t, m.src, {
      key: await readFile(key, 'utf8'),
      cert: await readFile(cert, 'utf8'),
    });
    const untrusted = await runCli(['--store', m.dst, 'pull', tls.url, m.os]);
    t.is(untrusted.code, 1);
    t.regex(untrusted.stderr, /^tml-imagetool: [^\n]*self-signed certificate[^\n]*\n$/);
    const r = await runCli(['--store', m.dst, 'pull', tls.url, '--all', '--json'], {
      env: { ...process.env, NODE_EXTRA_CA_CERTS: cert },
    });
    t.is(r.code, 0, r.stderr);
    t.like(JSON.parse(r.stdout), { manifestsFetched: 2, blobsFetched: 3, retries: 0 });
    t.deepEqual((await verifyJson(m.dst)).report.findings, []);
  },
);

const disk = canMountTmpfs() ? test : test.skip;

disk('pull onto a full disk fails in one line and leaves no partial download', async (t) => {
  const m = await mirrorStore(t);
  const mnt = await smallDisk(t, 1 << 20);
  const dst = join(mnt, 'store');
  const r = await runCli(['--store', dst, 'pull', m.server.url, m.os]);
  t.is(r.code, 1);
  t.regex(r.stderr, /^tml-imagetool: [^\n]*no space left on device\n$/);
  t.deepEqual(await partials(dst), []);
  const left = await readdir(mnt, { recursive: true });
  t.deepEqual(
    left.filter((p) => /(^|\/)\.(tmp|writer)-/.test(p)),
    [],
  );
  t.deepEqual((await verifyJson(dst)).report.findings, []);
});

test('a bad mirror URL or a missing ID/--all is a usage error', async (t) => {
  const dir = await tempDir(t);
  const noIds = await runCli(['--store', dir, 'pull', 'http://127.0.0.1:1/']);
  t.is(noIds.code, 2);
  t.regex(noIds.stderr, /give image IDs or --all/);
  const ftp = await runCli(['--store', dir, 'pull', 'ftp://example.org/', '--all']);
  t.is(ftp.code, 2);
  t.regex(ftp.stderr, /only http:\/\/ and https:\/\/ are supported/);
});

test('a mirror nobody listens on ends with one line after the retries', async (t) => {
  const dir = await tempDir(t);
  const r = await runCli(['--store', join(dir, 's'), 'pull', 'http://127.0.0.1:9/', 'a'.repeat(64)]);
  t.is(r.code, 1);
  t.regex(
    r.stderr,
    /^tml-imagetool: images\/aa\/aa\/aa\/a{64} from http:\/\/127\.0\.0\.1:9\/\S+: connection refused \(gave up after 5 retries\)\n$/,
  );
});

test('Content-Range and Content-Length parsing gives a value or null for any text', (t) => {
  fc.assert(
    fc.property(
      fc.oneof(fc.string({ unit: 'binary', maxLength: 40 }), fc.constantFrom('bytes 0-9/10', 'bytes */5')),
      (text) => {
        const r = parseContentRange(text);
        if (r === null) return true;
        if ('unsatisfied' in r) return Number.isSafeInteger(r.total);
        return r.start <= r.end && (r.total === null || r.end < r.total);
      },
    ),
  );
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 20 }), (text) => {
      const n = parseContentLength(text);
      return n === null || (Number.isSafeInteger(n) && n >= 0);
    }),
  );
  t.deepEqual(parseContentRange('bytes 100-199/200'), { start: 100, end: 199, total: 200 });
  t.deepEqual(parseContentRange('bytes */200'), { unsatisfied: true, total: 200 });
  t.is(parseContentRange('bytes 5-4/10'), null);
  t.is(parseContentRange('bytes 0-10/10'), null);
});

test('all.txt lines classify as content, other files, or invalid, never naming a path outside the store', (t) => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.string({ unit: 'binary', maxLength: 80 }),
        fc
          .array(fc.constantFrom('.', '..', '', 'blobs', 'images', 'ab', 'x', '.tmp-1-ab'), { maxLength: 6 })
          .map((p) => `./${p.join('/')}`),
      ),
      (line) => {
        const e = parseIndexLine(line);
        if (e.kind === 'invalid') return e.reason.length > 0;
        return !e.rel.split('/').some((p) => p === '..' || p === '.' || p === '') && !e.rel.startsWith('/');
      },
    ),
  );
  const d = 'ab'.repeat(32);
  t.deepEqual(parseIndexLine(`./blobs/ab/ab/ab/${d}`), { kind: 'blob', digest: d, rel: `blobs/ab/ab/ab/${d}` });
  t.deepEqual(parseIndexLine(`./images/ab/ab/ab/${d}\r`), { kind: 'image', digest: d, rel: `images/ab/ab/ab/${d}` });
  t.deepEqual(parseIndexLine('./.imagetool/verified/ab/x'), { kind: 'other', rel: '.imagetool/verified/ab/x' });
  t.like(parseIndexLine('./../etc/passwd'), { kind: 'invalid' });
  t.like(parseIndexLine('/etc/passwd'), { kind: 'invalid' });
});
