// Test helpers for the web console: a switchboard whose users have passwords, and a browser-like
// client over fastify.inject() that keeps cookies and sends CSRF tokens like the page's forms do.

import type { LightMyRequestResponse } from 'fastify';
import { hashPassword } from '../../../switchboard/auth.js';
import type { SwitchboardOptions } from '../../../switchboard/server.js';
import type { StoredJobRequest } from '../../../switchboard/store.js';
import type { EnqueueResult } from '../../../switchboard/scheduler.js';
import { startHarness, storedJobRequest, type Harness } from '../harness.js';

/** The id of a job the scheduler accepted. */
export function enqueued(r: EnqueueResult): string {
  if (!r.ok) throw new Error(`enqueue refused: ${r.message}`);
  return r.job.id;
}

export const PASSWORD = 'correct horse battery staple';
let passwordHash: string | null = null;

export interface WebHarness extends Harness {
  ids: { alice: string; bob: string; admin: string };
  /** A client logged in as `user`. */
  login(user: 'alice' | 'bob' | 'admin'): Promise<WebClient>;
  anonymous(): WebClient;
  /** Enqueues a job of `user` that stays queued (its supervisor is registered but not connected). */
  job(user: 'alice' | 'bob' | 'admin', overrides?: Partial<StoredJobRequest>): Promise<string>;
}

export async function startWeb(opts: Partial<SwitchboardOptions> = {}, listen = false): Promise<WebHarness> {
  // Jobs here stay queued on purpose; long timeouts keep them alive however slow the machine is.
  const h = await startHarness({ queueTimeoutMs: 3_600_000, jobTimeoutMs: 3_600_000, ...opts }, listen);
  passwordHash ??= hashPassword(PASSWORD);
  await h.sb.db.kysely.updateTable('users').set({ password_hash: passwordHash }).execute();
  await h.addSupervisor('bench-1', 'board:x');
  const ids = {
    alice: (await h.sb.db.userByName('alice'))!.id,
    bob: (await h.sb.db.userByName('bob'))!.id,
    admin: (await h.sb.db.userByName('admin'))!.id,
  };
  const web: WebHarness = Object.assign(h, {
    ids,
    anonymous: () => new WebClient(h),
    async login(user: 'alice' | 'bob' | 'admin') {
      const c = new WebClient(h);
      const r = await c.submit('/login', '/login', { user, password: PASSWORD });
      if (r.statusCode !== 303) throw new Error(`login as ${user} failed: ${r.statusCode} ${r.body}`);
      return c;
    },
    async job(user: 'alice' | 'bob' | 'admin', overrides: Partial<StoredJobRequest> = {}) {
      return enqueued(
        await h.sb.scheduler.enqueue(ids[user], storedJobRequest({ tag_config: 'board:x', ...overrides })),
      );
    },
  });
  return web;
}

export async function withWeb(
  fn: (h: WebHarness) => Promise<void>,
  opts: Partial<SwitchboardOptions> = {},
): Promise<void> {
  const h = await startWeb(opts);
  try {
    await fn(h);
  } finally {
    await h.close();
  }
}

export class WebClient {
  readonly cookies = new Map<string, string>();
  constructor(private readonly h: Harness) {}

  private cookieHeader(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  private keep(res: LightMyRequestResponse): LightMyRequestResponse {
    for (const c of res.cookies as Array<{ name: string; value: string; maxAge?: number; expires?: Date }>) {
      if (c.value === '' || (c.expires && c.expires.getTime() < Date.now())) this.cookies.delete(c.name);
      else this.cookies.set(c.name, c.value);
    }
    return res;
  }

  async get(url: string, headers: Record<string, string> = {}): Promise<LightMyRequestResponse> {
    return this.keep(
      await this.h.sb.app.inject({ method: 'GET', url, headers: { cookie: this.cookieHeader(), ...headers } }),
    );
  }

  async post(url: string, form: Record<string, string>): Promise<LightMyRequestResponse> {
    return this.keep(
      await this.h.sb.app.inject({
        method: 'POST',
        url,
        headers: { cookie: this.cookieHeader(), 'content-type': 'application/x-www-form-urlencoded' },
        payload: new URLSearchParams(form).toString(),
      }),
    );
  }

  /** Posts a form the way a person does: loads `page`, takes its CSRF token, submits. */
  async submit(page: string, action: string, form: Record<string, string>): Promise<LightMyRequestResponse> {
    const p = await this.get(page);
    const m = /name="_csrf" value="([^"]+)"/.exec(p.body);
    if (!m) throw new Error(`no CSRF token on ${page} (${p.statusCode})`);
    return this.post(action, { _csrf: m[1]!, ...form });
  }
}
