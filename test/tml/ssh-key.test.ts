import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { internalPublicKey, publicKeyOf } from '../../tml/ssh-key.js';

const hasKeygen = spawnSync('ssh-keygen', ['-?']).error === undefined;
const requireAll = process.env.TML_TEST_REQUIRE_ALL === '1';
if (!hasKeygen)
  console.log('SKIPPING SSH key format tests: ssh-keygen not found (Debian: apt-get install openssh-client)');
const withKeygen = hasKeygen || requireAll ? test : test.skip;

function tmp(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'tml-key-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

withKeygen("tml's key is an OpenSSH Ed25519 key that ssh-keygen reads, 0600, made once", (t) => {
  if (!hasKeygen) return t.fail('ssh-keygen not found (Debian: apt-get install openssh-client)');
  const d = tmp();
  const path = join(d.dir, 'treadmill-tb', 'ssh-key');
  const made = internalPublicKey(path);
  t.true(made.created);
  t.is(statSync(path).mode & 0o777, 0o600);
  const r = spawnSync('ssh-keygen', ['-y', '-f', path], { encoding: 'utf8' });
  t.is(r.status, 0, r.stderr);
  t.is(r.stdout.trim(), made.publicKey);
  t.regex(made.publicKey, /^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5[A-Za-z0-9+/]+=*$/);
  t.deepEqual(internalPublicKey(path), { publicKey: made.publicKey, created: false });
  d.cleanup();
});

withKeygen('a key ssh-keygen made (as upstream tml reuses one) gives its public key', (t) => {
  if (!hasKeygen) return t.fail('ssh-keygen not found');
  const d = tmp();
  const path = join(d.dir, 'k');
  t.is(spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'c', '-f', path]).status, 0);
  const pub = readFileSync(`${path}.pub`, 'utf8').trim().split(' ').slice(0, 2).join(' ');
  t.is(publicKeyOf(readFileSync(path, 'utf8'), path), pub);
  d.cleanup();
});

test('an encrypted or foreign key file is refused with a reason', (t) => {
  t.throws(() => publicKeyOf('-----BEGIN RSA PRIVATE KEY-----\nxx\n-----END RSA PRIVATE KEY-----\n', '/k'), {
    message: 'SSH key /k: not an OpenSSH private key',
  });
  const body = Buffer.concat([
    Buffer.from('openssh-key-v1\0', 'binary'),
    Buffer.from([0, 0, 0, 10]),
    Buffer.from('aes256-ctr'),
  ]).toString('base64');
  t.throws(
    () => publicKeyOf(`-----BEGIN OPENSSH PRIVATE KEY-----\n${body}\n-----END OPENSSH PRIVATE KEY-----\n`, '/k'),
    {
      message: /encrypted with a passphrase/,
    },
  );
});
