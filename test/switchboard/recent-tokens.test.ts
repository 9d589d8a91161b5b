import test from 'ava';
import { MAX_RECENT_TOKENS, RecentTokens, TOKEN_FRESH_MS } from '../../switchboard/recent-tokens.js';
import type { TokenOwner } from '../../switchboard/store.js';
import { FakeClock } from './fake-clock.js';

const hash = (n: number) => Buffer.alloc(32, n);

const owner = (name: string): TokenOwner => ({
  id: name,
  name,
  email: null,
  password_hash: null,
  is_admin: 0,
  created_at: 0,
  locked_at: null,
  token_hash: hash(1),
  expires_at: null,
});

/** A token table the test changes, and how often it was read. */
function table() {
  const rows = new Map<string, TokenOwner>();
  const reads = { n: 0 };
  const lookup = async (h: Buffer) => {
    reads.n++;
    return rows.get(h.toString('hex'));
  };
  return { rows, reads, lookup };
}

test('a token looked up again within TOKEN_FRESH_MS is not read again', async (t) => {
  const clock = new FakeClock();
  const { rows, reads, lookup } = table();
  rows.set(hash(1).toString('hex'), owner('alice'));
  const tokens = new RecentTokens(lookup, () => clock.now());
  t.is((await tokens.owner(hash(1)))?.name, 'alice');
  clock.advance(TOKEN_FRESH_MS - 1);
  t.is((await tokens.owner(hash(1)))?.name, 'alice');
  t.is(reads.n, 1);
});

test('a token removed from the store is refused once TOKEN_FRESH_MS have passed', async (t) => {
  const clock = new FakeClock();
  const { rows, lookup } = table();
  rows.set(hash(1).toString('hex'), owner('alice'));
  const tokens = new RecentTokens(lookup, () => clock.now());
  await tokens.owner(hash(1));
  rows.clear();
  clock.advance(TOKEN_FRESH_MS);
  t.is(await tokens.owner(hash(1)), undefined);
});

test('an unknown token is read every time: one stored meanwhile works at once', async (t) => {
  const clock = new FakeClock();
  const { rows, reads, lookup } = table();
  const tokens = new RecentTokens(lookup, () => clock.now());
  t.is(await tokens.owner(hash(1)), undefined);
  rows.set(hash(1).toString('hex'), owner('alice'));
  t.is((await tokens.owner(hash(1)))?.name, 'alice');
  t.is(reads.n, 2);
});

test('after forget, every token is read again, even one whose lookup was under way', async (t) => {
  const clock = new FakeClock();
  let reads = 0;
  let answer: (row: TokenOwner | undefined) => void = () => {};
  const tokens = new RecentTokens(
    () => {
      reads++;
      return new Promise((resolve) => (answer = resolve));
    },
    () => clock.now(),
  );
  const during = tokens.owner(hash(1));
  tokens.forget();
  answer(owner('alice'));
  t.is((await during)?.name, 'alice');
  const after = tokens.owner(hash(1));
  answer(undefined);
  t.is(await after, undefined);
  t.is(reads, 2);
});

test('no more than MAX_RECENT_TOKENS are remembered: the oldest lookup goes first', async (t) => {
  const clock = new FakeClock();
  const { rows, reads, lookup } = table();
  const tokens = new RecentTokens(lookup, () => clock.now());
  for (let n = 0; n <= MAX_RECENT_TOKENS; n++) {
    const h = Buffer.alloc(32);
    h.writeUInt32BE(n);
    rows.set(h.toString('hex'), owner(`user${n}`));
    await tokens.owner(h);
  }
  const first = Buffer.alloc(32);
  const second = Buffer.alloc(32);
  second.writeUInt32BE(1);
  await tokens.owner(second);
  t.is(reads.n, MAX_RECENT_TOKENS + 1, 'the second is still remembered');
  await tokens.owner(first);
  t.is(reads.n, MAX_RECENT_TOKENS + 2, 'the first was let go');
});
