// The saved login. token.json is upstream's format, byte for byte: serde_json of its AuthToken, a
// JSON string holding the standard padded base64 of the 128 token bytes, no newline, so upstream's
// `tml` and ours read each other's. session.json (ours) records who logged in where, for `whoami`.
// Both are written 0600 to a temporary file renamed into place: never half a token, never readable
// by others.

import { createHash, randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { UsageError } from '../protocol/cli.js';
import { isObject } from '../protocol/validation.js';

/** Standard padded base64 of exactly 128 bytes, as upstream's clients require. */
export function tokenProblem(token: string): string | null {
  const bytes = /^[A-Za-z0-9+/]+={0,2}$/.test(token) ? Buffer.from(token, 'base64') : null;
  if (!bytes || bytes.toString('base64') !== token) return 'is not standard base64';
  if (bytes.length !== 128) return `has invalid length (${bytes.length} bytes instead of 128 bytes)`;
  return null;
}

/** Writes `data` to `path` atomically with mode 0600, creating the directory (0700) if needed. */
export function writePrivateFile(path: string, data: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, data);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
  closeSync(fd);
  try {
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

/** The token in a token.json, or null when there is no such file. */
export function readTokenFile(path: string): string | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw new UsageError(`token file ${path}: cannot read it (${code ?? String(err)})`);
  }
  let token: unknown;
  try {
    token = JSON.parse(text);
  } catch {
    token = null;
  }
  if (typeof token !== 'string') {
    throw new UsageError(`token file ${path} does not hold a token as tml login writes it; run tml login again`);
  }
  const problem = tokenProblem(token);
  if (problem) throw new UsageError(`the token in ${path} ${problem}; run tml login again`);
  return token;
}

export function writeTokenFile(path: string, token: string): void {
  writePrivateFile(path, JSON.stringify(token));
}

export interface Session {
  user: string;
  switchboard: string;
  expires_at: string;
  /** The first 16 hex digits of the token's SHA-256: tells whether token.json is still this login's. */
  token_sha256: string;
}

export function tokenFingerprint(token: string): string {
  return createHash('sha256').update(token).digest('hex').slice(0, 16);
}

export function writeSession(path: string, session: Session): void {
  writePrivateFile(path, `${JSON.stringify(session, null, 2)}\n`);
}

/** The recorded login, or null when there is none or it cannot be read (it is only informative). */
export function readSession(path: string): Session | null {
  try {
    const v: unknown = JSON.parse(readFileSync(path, 'utf8'));
    if (!isObject(v)) return null;
    const { user, switchboard, expires_at, token_sha256 } = v;
    if ([user, switchboard, expires_at, token_sha256].every((x) => typeof x === 'string')) {
      return v as unknown as Session;
    }
  } catch {
    // no session record: whoami says less
  }
  return null;
}

/** Removes the saved login; true when there was a token to remove. */
export function removeLogin(tokenFile: string, sessionFile: string): boolean {
  let had = true;
  try {
    readFileSync(tokenFile);
  } catch {
    had = false;
  }
  rmSync(tokenFile, { force: true });
  rmSync(sessionFile, { force: true });
  return had;
}
