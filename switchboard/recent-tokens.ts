// API tokens looked up in the last moment, and their users: a client that sends requests in a
// loop (a CI job's `tml`, a burst of enqueues) is authenticated without a database read for
// each. What this costs is a bound on how late a change is seen: a token removed, or a user
// locked, by an admin command or another replica counts for up to FRESH_MS more. Removals made
// through this switchboard are seen at once (`forget`). Unknown tokens are never remembered, so
// a token is usable as soon as it is stored, and guessing fills nothing.

import type { TokenOwner } from './store.js';

/** How long a lookup stands. */
export const TOKEN_FRESH_MS = 1000;

/** Tokens remembered at most: past these, the oldest lookups go first. */
export const MAX_RECENT_TOKENS = 1000;

export class RecentTokens {
  /** By the token's hash (hex), in the order looked up. */
  private readonly recent = new Map<string, { owner: TokenOwner; at: number }>();
  /** Counts `forget`s: a lookup begun before one may have read what was then removed. */
  private generation = 0;

  constructor(
    private readonly lookup: (hash: Buffer) => Promise<TokenOwner | undefined>,
    private readonly now: () => number,
  ) {}

  /** The token's row and user, as stored at most TOKEN_FRESH_MS ago. */
  async owner(hash: Buffer): Promise<TokenOwner | undefined> {
    const key = hash.toString('hex');
    const hit = this.recent.get(key);
    if (hit && this.now() - hit.at < TOKEN_FRESH_MS) return hit.owner;
    const at = this.now();
    const generation = this.generation;
    const owner = await this.lookup(hash);
    this.recent.delete(key);
    if (owner && generation === this.generation) {
      if (this.recent.size >= MAX_RECENT_TOKENS) this.recent.delete(this.recent.keys().next().value!);
      this.recent.set(key, { owner, at });
    }
    return owner;
  }

  /** After this switchboard removed a token or locked a user: every token is read again. */
  forget(): void {
    this.recent.clear();
    this.generation++;
  }
}
