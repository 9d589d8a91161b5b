import test from 'ava';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readTokenFile, tokenProblem, writePrivateFile, writeTokenFile } from '../../tml/token-store.js';

function dir(): { path: string; cleanup: () => void } {
  const path = mkdtempSync(join(tmpdir(), 'tml-token-'));
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}

test("token.json holds upstream's serde form: a JSON string of the base64, no newline", (t) => {
  const d = dir();
  const token = randomBytes(128).toString('base64');
  const file = join(d.path, 'treadmill-tb', 'token.json');
  writeTokenFile(file, token);
  t.is(readFileSync(file, 'utf8'), `"${token}"`);
  t.is(statSync(file).mode & 0o777, 0o600);
  t.is(readTokenFile(file), token);
  d.cleanup();
});

test('a token file written by upstream tml (the same bytes) is read', (t) => {
  const d = dir();
  const token = randomBytes(128).toString('base64');
  writeFileSync(join(d.path, 'token.json'), JSON.stringify(token));
  t.is(readTokenFile(join(d.path, 'token.json')), token);
  t.is(readTokenFile(join(d.path, 'missing.json')), null);
  d.cleanup();
});

test('a replaced token file is replaced whole, and no temporary file stays behind', (t) => {
  const d = dir();
  const file = join(d.path, 'token.json');
  writeTokenFile(file, randomBytes(128).toString('base64'));
  const second = randomBytes(128).toString('base64');
  writeTokenFile(file, second);
  t.is(readTokenFile(file), second);
  t.deepEqual(readdirSync(d.path), ['token.json']);
  d.cleanup();
});

test('a write whose rename fails leaves what was there and no temporary file', (t) => {
  const d = dir();
  // The place of the file is taken by a directory: the rename into place fails (as root too).
  const target = join(d.path, 'token.json');
  mkdirSync(target);
  writeFileSync(join(target, 'keep'), 'old');
  t.throws(() => writePrivateFile(target, 'new'));
  t.is(readFileSync(join(target, 'keep'), 'utf8'), 'old');
  t.deepEqual(readdirSync(d.path), ['token.json']);
  d.cleanup();
});

test('tokens of another form are named by their problem', (t) => {
  t.is(tokenProblem(randomBytes(128).toString('base64')), null);
  t.is(tokenProblem(randomBytes(32).toString('base64')), 'has invalid length (32 bytes instead of 128 bytes)');
  t.is(tokenProblem('not base64!'), 'is not standard base64');
  t.is(tokenProblem(randomBytes(128).toString('base64url')), 'is not standard base64');
});

test('a token file of another format says to log in again', (t) => {
  const d = dir();
  writeFileSync(join(d.path, 'token.json'), '{"token": "x"}');
  t.throws(() => readTokenFile(join(d.path, 'token.json')), {
    message: /does not hold a token as tml login writes it; run tml login again/,
  });
  d.cleanup();
});
