// Pending device logins (RFC 8628): a client asks for a code, a logged-in user approves or denies
// it on the web console, the client polls until it gets its token. Codes live in memory only (a
// restart drops pending logins; the client starts again), expire, are good for one token, and are
// handed out at a bounded rate per client address. Pure bookkeeping on an injectable clock; the
// REST routes (device-routes.ts) and the web page (web/device-page.ts) are the edges.

import { createHash, randomBytes, randomInt } from 'node:crypto';
import { USER_CODE_ALPHABET, USER_CODE_LENGTH, normalizeUserCode } from '../protocol/device-flow.js';
import { WindowCounts } from './login-limits.js';

export interface DeviceFlowConfig {
  /** How long a code may wait for approval. */
  lifetimeMs: number;
  /** The least time between two polls of one code (RFC 8628's `interval`, whole seconds). */
  intervalMs: number;
  /** Codes one client address may ask for per window. */
  perAddress: number;
  windowMs: number;
  /** Most codes pending at once. */
  maxPending: number;
}

export const DEFAULT_DEVICE_FLOW: DeviceFlowConfig = {
  lifetimeMs: 10 * 60_000,
  intervalMs: 5000,
  perAddress: 10,
  windowMs: 10 * 60_000,
  maxPending: 10_000,
};

/** RFC 8628 §3.5: a client polling too fast waits this much longer from then on. */
const SLOW_DOWN_MS = 5000;

/** What the approving user is shown about a request. */
export interface DeviceRequestView {
  userCode: string;
  clientId: string;
  /** The address the client asked from. */
  address: string;
  createdAt: number;
  expiresAt: number;
}

interface Pending extends DeviceRequestView {
  deviceHash: string;
  intervalMs: number;
  lastPollAt: number | null;
  state: 'pending' | 'approved' | 'denied' | 'used';
  user: { id: string; name: string } | null;
}

export type StartResult =
  | { ok: true; deviceCode: string; userCode: string; expiresAt: number; intervalMs: number }
  | { ok: false; retryAfterMs: number };

export type PollResult =
  | { kind: 'pending' }
  | { kind: 'slow_down' }
  | { kind: 'denied' }
  | { kind: 'expired' }
  | { kind: 'invalid' }
  | { kind: 'approved'; user: { id: string; name: string } };

const hash = (deviceCode: string) => createHash('sha256').update(deviceCode).digest('hex');

export class DeviceAuthorizations {
  private readonly byDevice = new Map<string, Pending>();
  private readonly byUserCode = new Map<string, Pending>();
  private readonly starts: WindowCounts;

  constructor(
    readonly config: DeviceFlowConfig = DEFAULT_DEVICE_FLOW,
    private readonly now: () => number = Date.now,
  ) {
    this.starts = new WindowCounts(config.perAddress, config.windowMs, 100_000);
  }

  /** A new code for `clientId` asking from `address`, unless that address asked for too many. */
  start(clientId: string, address: string): StartResult {
    const now = this.now();
    this.prune(now);
    const wait = this.starts.blockedFor(address, now);
    if (wait > 0) return { ok: false, retryAfterMs: wait };
    if (this.byDevice.size >= this.config.maxPending) return { ok: false, retryAfterMs: this.config.lifetimeMs };
    this.starts.add(address, now);
    const deviceCode = randomBytes(32).toString('base64url');
    let userCode: string;
    do userCode = newUserCode();
    while (this.byUserCode.has(userCode));
    const p: Pending = {
      userCode,
      clientId,
      address,
      createdAt: now,
      expiresAt: now + this.config.lifetimeMs,
      deviceHash: hash(deviceCode),
      intervalMs: this.config.intervalMs,
      lastPollAt: null,
      state: 'pending',
      user: null,
    };
    this.byDevice.set(p.deviceHash, p);
    this.byUserCode.set(userCode, p);
    return { ok: true, deviceCode, userCode, expiresAt: p.expiresAt, intervalMs: p.intervalMs };
  }

  /** The request waiting for approval under a code as the user typed it, or null. */
  request(typedCode: string): DeviceRequestView | null {
    const p = this.waiting(typedCode);
    if (!p) return null;
    const { userCode, clientId, address, createdAt, expiresAt } = p;
    return { userCode, clientId, address, createdAt, expiresAt };
  }

  /** Approves a waiting request for `user`; false when the code is unknown, expired or decided. */
  approve(typedCode: string, user: { id: string; name: string }): boolean {
    const p = this.waiting(typedCode);
    if (!p) return false;
    p.state = 'approved';
    p.user = user;
    return true;
  }

  deny(typedCode: string): boolean {
    const p = this.waiting(typedCode);
    if (!p) return false;
    p.state = 'denied';
    return true;
  }

  /** A client's poll. An approval is handed out once; the code is spent after that. */
  poll(deviceCode: string): PollResult {
    const now = this.now();
    const p = this.byDevice.get(hash(deviceCode));
    if (!p || p.state === 'used') return { kind: 'invalid' };
    if (p.expiresAt <= now) return { kind: 'expired' };
    const early = p.lastPollAt !== null && now - p.lastPollAt < p.intervalMs;
    p.lastPollAt = now;
    if (early) {
      p.intervalMs += SLOW_DOWN_MS;
      return { kind: 'slow_down' };
    }
    switch (p.state) {
      case 'pending':
        return { kind: 'pending' };
      case 'denied':
        p.state = 'used';
        return { kind: 'denied' };
      case 'approved':
        p.state = 'used';
        return { kind: 'approved', user: p.user! };
    }
  }

  private waiting(typedCode: string): Pending | null {
    const code = normalizeUserCode(typedCode);
    const p = code === null ? undefined : this.byUserCode.get(code);
    return p && p.state === 'pending' && p.expiresAt > this.now() ? p : null;
  }

  /** Forgets codes a lifetime after they expired: until then a poll is told `expired`, not `invalid`. */
  private prune(now: number): void {
    for (const [key, p] of this.byDevice) {
      if (p.expiresAt + this.config.lifetimeMs > now) continue;
      this.byDevice.delete(key);
      this.byUserCode.delete(p.userCode);
    }
  }
}

function newUserCode(): string {
  let code = '';
  for (let i = 0; i < USER_CODE_LENGTH; i++) code += USER_CODE_ALPHABET[randomInt(USER_CODE_ALPHABET.length)];
  return `${code.slice(0, 4)}-${code.slice(4)}`;
}
