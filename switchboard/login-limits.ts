// Login failure limits, shared by the REST login and the web console's login form: too many
// failed logins for one user, or from one client address, within a window block further attempts
// for that user or address until the window ends. Pure bookkeeping on an injectable clock.

export interface LoginLimitConfig {
  /** Failed logins of one user identifier allowed per window. */
  perUser: number;
  /** Failed logins from one client address allowed per window. */
  perAddress: number;
  windowMs: number;
  /** Most users or addresses tracked at once; past it the oldest entries are forgotten. */
  maxTracked: number;
}

export const DEFAULT_LOGIN_LIMITS: LoginLimitConfig = {
  perUser: 10,
  perAddress: 50,
  windowMs: 15 * 60_000,
  maxTracked: 100_000,
};

export type LoginVerdict = { ok: true } | { ok: false; by: 'user' | 'address'; retryAfterMs: number };

interface Window {
  failures: number;
  /** When this window ends and the count starts again from zero. */
  endsAt: number;
}

/** Events (failures, requests) per key in fixed windows that start at a key's first event. */
export class WindowCounts {
  private readonly windows = new Map<string, Window>();

  constructor(
    private readonly max: number,
    private readonly windowMs: number,
    private readonly maxTracked: number,
  ) {}

  /** Milliseconds until `key` may try again; 0 when it may now. */
  blockedFor(key: string, now: number): number {
    const w = this.live(key, now);
    return w && w.failures >= this.max ? w.endsAt - now : 0;
  }

  add(key: string, now: number): void {
    const w = this.live(key, now);
    if (w) {
      w.failures++;
      return;
    }
    if (this.windows.size >= this.maxTracked) this.evict(now);
    this.windows.set(key, { failures: 1, endsAt: now + this.windowMs });
  }

  clear(key: string): void {
    this.windows.delete(key);
  }

  private live(key: string, now: number): Window | undefined {
    const w = this.windows.get(key);
    if (w && w.endsAt <= now) {
      this.windows.delete(key);
      return undefined;
    }
    return w;
  }

  /** Drops ended windows; if none had ended, the oldest (Map order is insertion order). */
  private evict(now: number): void {
    for (const [key, w] of this.windows) if (w.endsAt <= now) this.windows.delete(key);
    if (this.windows.size >= this.maxTracked) this.windows.delete(this.windows.keys().next().value!);
  }
}

export class LoginLimits {
  private readonly users: WindowCounts;
  private readonly addresses: WindowCounts;

  constructor(
    readonly config: LoginLimitConfig = DEFAULT_LOGIN_LIMITS,
    private readonly now: () => number = Date.now,
  ) {
    this.users = new WindowCounts(config.perUser, config.windowMs, config.maxTracked);
    this.addresses = new WindowCounts(config.perAddress, config.windowMs, config.maxTracked);
  }

  /** Whether a login of `user` from `address` may be tried now. Ask before checking the password. */
  check(user: string, address: string): LoginVerdict {
    const now = this.now();
    const byAddress = this.addresses.blockedFor(address, now);
    if (byAddress > 0) return { ok: false, by: 'address', retryAfterMs: byAddress };
    const byUser = this.users.blockedFor(userKey(user), now);
    if (byUser > 0) return { ok: false, by: 'user', retryAfterMs: byUser };
    return { ok: true };
  }

  failed(user: string, address: string): void {
    const now = this.now();
    this.users.add(userKey(user), now);
    this.addresses.add(address, now);
  }

  /** A good password ends the user's count; the address keeps its failures (one spraying many users). */
  succeeded(user: string): void {
    this.users.clear(userKey(user));
  }
}

/** E-mail addresses match case-insensitively, so case must not give a user fresh attempts. */
const userKey = (identifier: string): string => identifier.trim().toLowerCase();

/** The Retry-After value (whole seconds, rounded up) for a wait. */
export const retryAfterSeconds = (ms: number): number => Math.max(1, Math.ceil(ms / 1000));

/** "try again in 3 minutes" style text for a wait. */
export function waitText(ms: number): string {
  const s = retryAfterSeconds(ms);
  if (s < 120) return `${s} seconds`;
  return `${Math.ceil(s / 60)} minutes`;
}

/** The one-line reason of a refused login. */
export function limitMessage(verdict: { by: 'user' | 'address'; retryAfterMs: number }): string {
  const whose = verdict.by === 'user' ? 'for this user' : 'from this address';
  return `too many failed logins ${whose}; try again in ${waitText(verdict.retryAfterMs)}`;
}
