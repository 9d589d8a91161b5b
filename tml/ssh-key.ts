// tml's own SSH key, as upstream's `tml` keeps it: an unencrypted Ed25519 key in OpenSSH's
// format ("openssh-key-v1") at $XDG_DATA_HOME/treadmill-tb/ssh-key, mode 0600, made on first use;
// its public half goes into a job's authorized keys so that `tml job ssh` can log in. A key that
// upstream's `tml` made is read as it is (any key type, as long as it is not encrypted).

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { UsageError } from '../protocol/cli.js';
import { writePrivateFile } from './token-store.js';

const MAGIC = 'openssh-key-v1\0';
const BEGIN = '-----BEGIN OPENSSH PRIVATE KEY-----';
const END = '-----END OPENSSH PRIVATE KEY-----';

function sshString(data: Buffer | string): Buffer {
  const body = typeof data === 'string' ? Buffer.from(data) : data;
  const len = Buffer.alloc(4);
  len.writeUInt32BE(body.length);
  return Buffer.concat([len, body]);
}

function uint32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

/** An Ed25519 key pair as OpenSSH writes it: the private key file's text and the public key line. */
export function encodeEd25519(
  seed: Buffer,
  publicKey: Buffer,
  comment = '',
): { privateKey: string; publicKey: string } {
  const pubBlob = Buffer.concat([sshString('ssh-ed25519'), sshString(publicKey)]);
  const check = randomBytes(4);
  let priv = Buffer.concat([
    check,
    check,
    sshString('ssh-ed25519'),
    sshString(publicKey),
    sshString(Buffer.concat([seed, publicKey])),
    sshString(comment),
  ]);
  const pad = (8 - (priv.length % 8)) % 8;
  priv = Buffer.concat([priv, Buffer.from(Array.from({ length: pad }, (_, i) => i + 1))]);
  const body = Buffer.concat([
    Buffer.from(MAGIC, 'binary'),
    sshString('none'),
    sshString('none'),
    sshString(''),
    uint32(1),
    sshString(pubBlob),
    sshString(priv),
  ]);
  const lines = body.toString('base64').match(/.{1,70}/g)!;
  return {
    privateKey: `${BEGIN}\n${lines.join('\n')}\n${END}\n`,
    publicKey: `ssh-ed25519 ${pubBlob.toString('base64')}${comment ? ` ${comment}` : ''}`,
  };
}

/** The public key line of an unencrypted OpenSSH private key file's text. */
export function publicKeyOf(text: string, path: string): string {
  const bad = (why: string) => new UsageError(`SSH key ${path}: ${why}`);
  const start = text.indexOf(BEGIN);
  const end = text.indexOf(END);
  if (start < 0 || end < start) throw bad('not an OpenSSH private key');
  const body = Buffer.from(text.slice(start + BEGIN.length, end).replace(/\s+/g, ''), 'base64');
  let pos = 0;
  const read = (): Buffer => {
    if (pos + 4 > body.length) throw bad('truncated');
    const len = body.readUInt32BE(pos);
    if (pos + 4 + len > body.length) throw bad('truncated');
    const out = body.subarray(pos + 4, pos + 4 + len);
    pos += 4 + len;
    return out;
  };
  if (body.subarray(0, MAGIC.length).toString('binary') !== MAGIC) throw bad('not an OpenSSH private key');
  pos = MAGIC.length;
  if (read().toString() !== 'none') throw bad('encrypted with a passphrase; tml needs an unencrypted key');
  read(); // kdf name
  read(); // kdf options
  if (pos + 4 > body.length || body.readUInt32BE(pos) < 1) throw bad('holds no key');
  pos += 4;
  const blob = read();
  const type = blob.subarray(4, 4 + blob.readUInt32BE(0)).toString();
  return `${type} ${blob.toString('base64')}`;
}

/** The public key of tml's own SSH key, made (and saved 0600) when there is none yet. */
export function internalPublicKey(path: string): { publicKey: string; created: boolean } {
  let text: string | null = null;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new UsageError(`SSH key ${path}: cannot read it (${(err as NodeJS.ErrnoException).code})`);
    }
  }
  if (text !== null) return { publicKey: publicKeyOf(text, path), created: false };
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const jwk = privateKey.export({ format: 'jwk' });
  const pub = publicKey.export({ format: 'jwk' });
  const encoded = encodeEd25519(Buffer.from(jwk.d!, 'base64url'), Buffer.from(pub.x!, 'base64url'));
  writePrivateFile(path, encoded.privateKey);
  return { publicKey: encoded.publicKey, created: true };
}

/** Only the key file of tml's own key, when it exists (for `tml job ssh`). */
export function existingKeyFile(path: string): string | null {
  try {
    readFileSync(path);
    return path;
  } catch {
    return null;
  }
}
