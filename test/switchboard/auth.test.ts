// Passwords, API tokens and the Authorization header.
import test from 'ava';
import {
  bearerToken,
  hashPassword,
  isWellFormedToken,
  newToken,
  tokenMatches,
  verifyPassword,
} from '../../switchboard/auth.js';

test('passwords verify against their scrypt hash only', async (t) => {
  const h = hashPassword('correct horse');
  t.regex(h, /^scrypt\$16384\$8\$1\$/);
  t.true(await verifyPassword('correct horse', h));
  t.false(await verifyPassword('correct horsf', h));
  t.false(await verifyPassword('x', 'garbage'));
});

test("tokens are upstream's 128 random bytes in padded standard base64, stored as their SHA-256", (t) => {
  const a = newToken();
  const b = newToken();
  t.is(Buffer.from(a.token, 'base64').length, 128);
  t.regex(a.token, /^[A-Za-z0-9+/]{171}=$/);
  t.true(isWellFormedToken(a.token));
  t.not(a.token, b.token);
  t.is(a.hash.length, 32);
  t.true(tokenMatches(a.token, a.hash));
  t.false(tokenMatches(b.token, a.hash));
});

test('only the canonical base64 of exactly 128 bytes is a well-formed token', (t) => {
  const bytes = Buffer.alloc(128, 7);
  t.true(isWellFormedToken(bytes.toString('base64')));
  t.false(isWellFormedToken(bytes.toString('base64url')));
  t.false(isWellFormedToken(bytes.toString('base64').replace(/=$/, '')));
  t.false(isWellFormedToken(Buffer.alloc(127).toString('base64')));
  t.false(isWellFormedToken(Buffer.alloc(129).toString('base64')));
  // Non-zero bits after the last byte decode to the same bytes but are not canonical.
  const canonical = bytes.toString('base64');
  t.false(isWellFormedToken(`${canonical.slice(0, -2)}x=`));
});

test('bearer tokens come only from a well-formed Authorization header', (t) => {
  t.is(bearerToken('Bearer abc'), 'abc');
  t.is(bearerToken('bearer abc '), 'abc');
  t.is(bearerToken('Basic abc'), null);
  t.is(bearerToken('Bearer a b'), null);
  t.is(bearerToken(undefined), null);
});
