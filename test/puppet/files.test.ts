// The job's files as published images need them: the authorized keys file keeps the owner and
// mode the image gave it, and the workload user (uid 1000 here, `tml` in the images) reads the
// keys and the secret parameters. Ownership needs root, which CI and this machine's tests have.
// The pure parts (name sanitizing, atomic writes, the parameter set, authorized_keys) follow.
import test from 'ava';
import fc from 'fast-check';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import {
  chmodSync,
  chownSync,
  promises as fs,
  lstatSync,
  mkdirSync,
  readdirSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import {
  AUTHORIZED_KEYS_HEADER,
  ParameterFiles,
  acceptableSshKeys,
  authorizedKeysContent,
  sanitizeParameterName,
  writeFileAtomicSync,
} from '../../puppet/files.js';
import { baseContext, startJob, tempDir, type Job } from './harness.js';

const WORKLOAD_UID = 1000;
const asRoot = process.getuid?.() === 0;
const rootTest = asRoot ? test : test.skip;
if (!asRoot) console.warn('puppet/files: SKIPPED the ownership tests: they need root (CI runs them as root)');

const mode = (file: string) => statSync(file).mode & 0o777;

/** Reads a file as another user, as the image's runner service does; resolves with its content or the error code. */
async function readAs(uid: number, gid: number, file: string): Promise<string> {
  const child = spawn(
    process.execPath,
    [
      '-e',
      'try { process.stdout.write(require("fs").readFileSync(process.argv[1])) } catch (e) { process.stdout.write(e.code) }',
      file,
    ],
    { uid, gid, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  await once(child, 'close');
  return out;
}

/** A directory every user may traverse (mkdtemp makes 0700 ones), for files another user reads. */
function openDir(t: import('ava').ExecutionContext): string {
  const dir = tempDir(t);
  chmodSync(dir, 0o755);
  return dir;
}

/** A daemon whose temp dir the workload user can traverse. */
async function jobReadableBy(t: import('ava').ExecutionContext, daemonArgs: string[]): Promise<Job> {
  const job = await startJob(t, { daemonArgs });
  chmodSync(job.dir, 0o755);
  return job;
}

function preCreatedKeys(t: import('ava').ExecutionContext): string {
  // as the published images ship /home/tml/.ssh/authorized_keys
  const home = path.join(openDir(t), 'home', 'tml');
  mkdirSync(path.dirname(home), { mode: 0o755 });
  mkdirSync(path.join(home, '.ssh'), { recursive: true, mode: 0o700 });
  const file = path.join(home, '.ssh', 'authorized_keys');
  writeFileSync(file, 'ssh-ed25519 AAAAimage built-in\n', { mode: 0o600 });
  for (const p of [home, path.join(home, '.ssh'), file]) chownSync(p, WORKLOAD_UID, WORKLOAD_UID);
  return file;
}

rootTest(
  "a pre-created authorized_keys file keeps its owner, group and mode, and its user can read the job's keys",
  async (t) => {
    const file = preCreatedKeys(t);
    const inode = statSync(file).ino;
    await jobReadableBy(t, ['--authorized-keys-file', file]);
    const st = statSync(file);
    t.deepEqual([st.uid, st.gid, mode(file)], [WORKLOAD_UID, WORKLOAD_UID, 0o600]);
    t.is(st.ino, inode, 'rewritten in place, not replaced');
    const expected = `${AUTHORIZED_KEYS_HEADER}ssh-ed25519 AAAAkey1 alice@laptop\n`;
    t.is(await fs.readFile(file, 'utf8'), expected);
    t.is(await readAs(WORKLOAD_UID, WORKLOAD_UID, file), expected);
  },
);

rootTest('by default the workload user can read a secret parameter, as upstream writes it (0644)', async (t) => {
  const job = await jobReadableBy(t, []);
  const token = path.join(job.paramsDir, 'token');
  t.is(mode(token), 0o644);
  t.is(await readAs(WORKLOAD_UID, WORKLOAD_UID, token), 'TOPSECRET-hunter2');
});

rootTest(
  '--secret-parameters-mode 0640 --secret-parameters-group keeps secrets from everyone but that group',
  async (t) => {
    const job = await jobReadableBy(t, ['--secret-parameters-mode', '0640', '--secret-parameters-group', '1000']);
    const token = path.join(job.paramsDir, 'token');
    const st = statSync(token);
    t.deepEqual([mode(token), st.gid], [0o640, 1000]);
    t.is(mode(path.join(job.paramsDir, 'board')), 0o644, 'plain parameters stay 0644');
    t.is(await readAs(WORKLOAD_UID, 1000, token), 'TOPSECRET-hunter2');
    t.is(await readAs(1001, 1001, token), 'EACCES');
    t.is(await readAs(1001, 1001, path.join(job.paramsDir, 'board')), 'nrf52840dk');
  },
);

test('an unusable --secret-parameters-mode is a one-line error', async (t) => {
  const job = await startJob(t, { waitReady: false, daemonArgs: ['--secret-parameters-mode', 'rw-r-----'] });
  t.is(await job.closed, 2);
  t.is(
    job.daemonLog(),
    'tml-puppet: --secret-parameters-mode must be octal permission bits such as 0640, not "rw-r-----"\n',
  );
});

test('an authorized keys file that is a symbolic link is not written through', async (t) => {
  const dir = tempDir(t);
  const target = path.join(dir, 'precious');
  writeFileSync(target, 'not an authorized_keys file\n');
  const link = path.join(dir, 'authorized_keys');
  await fs.symlink(target, link);
  // with the default --exit-on-authorized-keys-update-error the daemon stops
  const strict = await startJob(t, { waitReady: false, daemonArgs: ['--authorized-keys-file', link] });
  t.is(await strict.closed, 1);
  t.regex(strict.daemonLog(), /is a symbolic link; refusing to write through it/);
  const lenient = await startJob(t, {
    daemonArgs: ['--authorized-keys-file', link, '--no-exit-on-authorized-keys-update-error'],
  });
  t.deepEqual(lenient.eventsOf('ready'), [{ type: 'ready' }]);
  t.is(await fs.readFile(target, 'utf8'), 'not an authorized_keys file\n');
  t.true(lstatSync(link).isSymbolicLink());
});

test('SSH keys holding a line break are left out, so they cannot add lines of their own', async (t) => {
  const file = path.join(tempDir(t), 'authorized_keys');
  const context = baseContext();
  context.sshKeys = [
    'ssh-ed25519 AAAAgood one@laptop',
    'ssh-ed25519 AAAAbad x\ncommand="/bin/sh" ssh-rsa AAAAinjected',
    'ssh-rsa AAAAcr x\r',
    'ssh-ed25519 AAAAgood two@ci',
  ];
  const job = await startJob(t, { context, daemonArgs: ['--authorized-keys-file', file] });
  t.is(
    await fs.readFile(file, 'utf8'),
    `${AUTHORIZED_KEYS_HEADER}ssh-ed25519 AAAAgood one@laptop\nssh-ed25519 AAAAgood two@ci\n`,
  );
  t.regex(job.daemonLog(), /SSH key 2 of 4 holds a line break or NUL byte; left out/);
  t.regex(job.daemonLog(), /SSH key 3 of 4 holds a line break or NUL byte; left out/);
});

test('parameter names keep only ASCII alphanumerics, space, - and _', (t) => {
  t.is(sanitizeParameterName('../../etc/passwd'), 'etcpasswd');
  t.is(sanitizeParameterName('my param-1_x'), 'my param-1_x');
  t.is(sanitizeParameterName('ünïcødé.txt'), 'ncdtxt');
  t.is(sanitizeParameterName('...'), '');
});

test('sanitized parameter names never contain a path separator or dot and are at most 128 chars', (t) => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (name) => {
      const s = sanitizeParameterName(name);
      return s.length <= 128 && /^[A-Za-z0-9 _-]*$/.test(s);
    }),
  );
  t.is(sanitizeParameterName('a'.repeat(300)).length, 128);
});

test('atomic writes leave no temporary file and set the exact mode despite the umask', async (t) => {
  const dir = tempDir(t);
  const old = process.umask(0o077);
  try {
    writeFileAtomicSync(path.join(dir, 'f'), 'v', { mode: 0o644 });
  } finally {
    process.umask(old);
  }
  t.deepEqual(readdirSync(dir), ['f']);
  t.is(statSync(path.join(dir, 'f')).mode & 0o777, 0o644);
});

test('parameter files: a rewrite in the same run removes only names this instance wrote before', async (t) => {
  const dir = tempDir(t);
  const files = new ParameterFiles(dir);
  await files.write({ a: { value: '1', secret: false }, b: { value: '2', secret: true } });
  await fs.writeFile(path.join(dir, 'unrelated'), 'keep me');
  const r = await files.write({ a: { value: '3', secret: false } });
  t.deepEqual(r.removed, ['b']);
  t.deepEqual(readdirSync(dir).sort(), ['a', 'unrelated']);
  t.is(await fs.readFile(path.join(dir, 'a'), 'utf8'), '3');
});

test('parameter files: the first write of a run removes files an earlier run left and replaces those in the set', async (t) => {
  const dir = tempDir(t);
  await fs.writeFile(path.join(dir, 'stale'), 'from an earlier run');
  await fs.writeFile(path.join(dir, '.board.1234.0.tmp'), 'temporary of a crashed write');
  await fs.writeFile(path.join(dir, 'board'), 'old value');
  const r = await new ParameterFiles(dir).write({ board: { value: 'nrf52840dk', secret: false } });
  t.deepEqual(r.removed.sort(), ['.board.1234.0.tmp', 'stale']);
  t.deepEqual(readdirSync(dir), ['board']);
  t.is(await fs.readFile(path.join(dir, 'board'), 'utf8'), 'nrf52840dk');
});

test('parameter files: the start-up sweep leaves directories and symbolic links, and what links point to, alone', async (t) => {
  const dir = tempDir(t);
  const outside = tempDir(t);
  await fs.writeFile(path.join(outside, 'precious'), 'not a parameter');
  await fs.symlink(path.join(outside, 'precious'), path.join(dir, 'link'));
  await fs.symlink(outside, path.join(dir, 'linkdir'));
  await fs.mkdir(path.join(dir, 'subdir'));
  await fs.writeFile(path.join(dir, 'subdir', 'inner'), 'x');
  const r = await new ParameterFiles(dir).write({ a: { value: '1', secret: false } });
  t.deepEqual(r.removed, []);
  t.deepEqual(readdirSync(dir).sort(), ['a', 'link', 'linkdir', 'subdir']);
  t.deepEqual(readdirSync(path.join(dir, 'subdir')), ['inner']);
  t.is(await fs.readFile(path.join(outside, 'precious'), 'utf8'), 'not a parameter');
});

test('parameter files: names that sanitize to nothing are skipped, collisions reported', async (t) => {
  const dir = tempDir(t);
  const r = await new ParameterFiles(dir).write({
    '...': { value: 'x', secret: false },
    'a.b': { value: 'first', secret: false },
    ab: { value: 'second', secret: false },
  });
  t.deepEqual(r.skipped, ['...']);
  t.is(r.collisions.length, 1);
  t.deepEqual(readdirSync(dir), ['ab']);
});

test("authorized_keys: upstream's three-line header, keys joined by newlines, final newline", (t) => {
  t.is(
    authorizedKeysContent(['k1', 'k2']),
    '# WARNING: this file is managed by tml-puppet and may be overwritten.\n' +
      '# Please add your own SSH keys to an alternative authorized_keys file\n' +
      '# (such as ~/.ssh/authorized_keys2)\n' +
      'k1\nk2\n',
  );
});

test('SSH keys: any key set yields only keys without line breaks or NULs, in order, and the indexes left out', (t) => {
  fc.assert(
    fc.property(fc.array(fc.string({ unit: 'binary', maxLength: 40 }), { maxLength: 10 }), (keys) => {
      const r = acceptableSshKeys(keys);
      const lines = authorizedKeysContent(r.keys).split('\n');
      // the header's three lines, one line per accepted key, and the final newline: nothing more
      return (
        r.keys.every((k) => !/[\r\n\0]/.test(k)) &&
        r.keys.length + r.refused.length === keys.length &&
        r.refused.every((i) => /[\r\n\0]/.test(keys[i]!)) &&
        lines.length === 3 + Math.max(r.keys.length, 1) + 1
      );
    }),
  );
  t.deepEqual(acceptableSshKeys(['a', 'b\nc', 'd']), { keys: ['a', 'd'], refused: [1] });
});
