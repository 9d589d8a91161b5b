// WebData over the switchboard's parts: JobStore, SwitchboardStore and Scheduler. This is the
// only web file that knows the switchboard's parts; what it reads and writes goes through the
// store (SwitchboardStore), sessions included. (When console chunks came is marked by JobStore,
// as it stores them.)

import { randomBytes } from 'node:crypto';
import { hashPassword, newToken, verifyPassword } from '../auth.js';
import type { ImageSpec } from '../../protocol/job.js';
import type { JobRow, SwitchboardStore } from '../store.js';
import type { JobStore } from '../jobs.js';
import type { Logger } from '../../protocol/log.js';
import { parseTags } from '../matcher.js';
import type { Scheduler } from '../scheduler.js';
import type { RecentTokens } from '../recent-tokens.js';
import type {
  ActionResult,
  ApiTokenInfo,
  ConsoleSlice,
  ConsoleTimeMark,
  JobDetail,
  JobEvent,
  JobPage,
  JobQuery,
  JobSummary,
  JobWatchEvent,
  SessionRecord,
  SupervisorSummary,
  WebData,
  WebUser,
} from './data.js';

export interface AdapterDeps {
  db: SwitchboardStore;
  jobs: JobStore;
  scheduler: Scheduler;
  log: Logger;
  /** Told when a token is revoked here, so that the API refuses it at once. */
  tokens?: RecentTokens;
}

/** Most time marks one console window reads. */
const MAX_TIME_MARKS = 100_000;

/** Most API tokens the token page lists. */
const MAX_LISTED_TOKENS = 1000;

export class StoreWebData implements WebData {
  private readonly watchers = new Map<string, Set<(e: JobWatchEvent) => void>>();
  private dummyHash: string | null = null;
  private readonly onChanged = (job: JobRow) => this.notify(job.id, { kind: 'changed' });
  private readonly onLog = (id: string, end: number) => this.notify(id, { kind: 'console', end });

  constructor(private readonly deps: AdapterDeps) {
    deps.jobs.on('changed', this.onChanged);
    deps.jobs.on('log', this.onLog);
  }

  close(): void {
    this.deps.jobs.off('changed', this.onChanged);
    this.deps.jobs.off('log', this.onLog);
    this.watchers.clear();
  }

  // -- jobs --

  async listJobs(q: JobQuery): Promise<JobPage> {
    const f = q.filter;
    const query = {
      ...(q.ownerId !== null && { ownerId: q.ownerId }),
      ...(f.owner !== undefined && { ownerName: f.owner }),
      ...(f.state !== undefined && { state: f.state }),
      ...(f.exitStatus !== undefined && { exitStatus: f.exitStatus }),
      ...(f.supervisor !== undefined && { supervisor: f.supervisor }),
      // The tag is matched exactly below; the store's text match only narrows the rows read.
      ...(f.tag !== undefined && { tagText: f.tag }),
      ...(f.image !== undefined && { imagePrefix: f.image }),
      ...(f.queuedFrom !== undefined && { queuedFrom: f.queuedFrom }),
      ...(f.queuedUntil !== undefined && { queuedUntil: f.queuedUntil }),
    };
    const jobs: JobSummary[] = [];
    let lastSeq = 0;
    let cursor = q.cursor !== null && /^\d{1,15}$/.test(q.cursor) ? Number(q.cursor) : Number.MAX_SAFE_INTEGER;
    const batch = q.limit + 1;
    // Rows the tag check refuses are skipped; read on until the page is full or no rows are left.
    while (true) {
      const rows = await this.deps.db.listedJobs({ ...query, beforeSeq: cursor, limit: batch });
      for (const row of rows) {
        cursor = row.seq;
        if (f.tag !== undefined && !parseTags(row.tag_config).includes(f.tag)) continue;
        if (jobs.length === q.limit) return { jobs, next: String(lastSeq) };
        jobs.push(this.summary(row, row.owner_name, row.supervisor_name, JSON.parse(row.init_spec) as ImageSpec));
        lastSeq = row.seq;
      }
      if (rows.length < batch) return { jobs, next: null };
    }
  }

  async job(id: string): Promise<JobDetail | null> {
    const row = await this.deps.jobs.get(id);
    if (!row) return null;
    const req = await this.deps.jobs.request(row);
    const owner = (await this.deps.db.userById(row.owner_id))?.name ?? row.owner_id;
    const sup = row.supervisor_id
      ? ((await this.deps.db.supervisorById(row.supervisor_id))?.name ?? row.supervisor_id)
      : null;
    return {
      ...this.summary(row, owner, sup, req.init_spec),
      parameters: Object.entries(req.parameters)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([name, p]) => (p.secret ? { name, secret: true } : { name, secret: false, value: p.value })),
      sshKeys: req.ssh_keys,
      timeoutSeconds: req.override_timeout,
      remainingRestarts: req.restart_policy.remaining_restart_count,
    };
  }

  private summary(row: JobRow, owner: string, supervisor: string | null, initSpec: ImageSpec): JobSummary {
    return {
      id: row.id,
      owner: { id: row.owner_id, name: owner },
      state: row.state,
      stage: row.stage,
      statusMessage: row.status_message,
      exitStatus: row.exit_status,
      exitMessage: row.exit_message,
      supervisor: row.supervisor_id ? { id: row.supervisor_id, name: supervisor ?? row.supervisor_id } : null,
      tagConfig: row.tag_config,
      tags: parseTags(row.tag_config),
      initSpec,
      queuedAt: row.queued_at,
      scheduledAt: row.scheduled_at,
      updatedAt: row.updated_at,
      terminatedAt: row.terminated_at,
      console: { start: row.log_start, end: row.log_end },
    };
  }

  async jobEvents(id: string, afterSeq: number, limit: number): Promise<JobEvent[]> {
    return (await this.deps.db.events(id, afterSeq, limit)).map((e) => ({
      seq: e.seq,
      at: e.at,
      kind: e.kind,
      by: e.by,
      state: e.state,
      stage: e.stage,
      statusMessage: e.status_message,
      exitStatus: e.exit_status,
    }));
  }

  async readConsole(id: string, offset: number, maxBytes: number): Promise<ConsoleSlice> {
    const job = await this.deps.jobs.get(id);
    if (!job) return { offset, data: Buffer.alloc(0) };
    const from = Math.min(Math.max(offset, job.log_start), job.log_end);
    const parts: Buffer[] = [];
    let pos = from;
    let size = 0;
    while (size < maxBytes && pos < job.log_end) {
      const chunks = await this.deps.db.readLog(id, pos, 16);
      if (chunks.length === 0) break;
      for (const c of chunks) {
        const skip = Math.max(0, pos - c.offset);
        const slice = c.data.subarray(skip, skip + (maxBytes - size));
        parts.push(slice);
        size += slice.length;
        pos = c.offset + skip + slice.length;
        if (size >= maxBytes) break;
      }
    }
    return { offset: from, data: parts.length === 1 ? parts[0]! : Buffer.concat(parts) };
  }

  async consoleTimes(id: string, from: number, to: number): Promise<ConsoleTimeMark[]> {
    return (await this.deps.db.consoleTimes(id, from, to, MAX_TIME_MARKS)).map((r) => ({
      offset: r.offset,
      time: r.at,
    }));
  }

  async secretValues(id: string): Promise<string[]> {
    const row = await this.deps.jobs.get(id);
    if (!row) return [];
    return Object.values((await this.deps.jobs.request(row)).parameters)
      .filter((p) => p.secret)
      .map((p) => p.value);
  }

  watch(id: string, listener: (e: JobWatchEvent) => void): () => void {
    let set = this.watchers.get(id);
    if (!set) this.watchers.set(id, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0 && this.watchers.get(id) === set) this.watchers.delete(id);
    };
  }

  private notify(id: string, e: JobWatchEvent): void {
    const set = this.watchers.get(id);
    if (!set) return;
    for (const l of [...set]) {
      try {
        l(e);
      } catch (err) {
        this.deps.log.error(`web console: watcher of job ${id} failed: ${(err as Error).message}`);
      }
    }
  }

  async cancelJob(id: string, by: WebUser): Promise<ActionResult> {
    const r = await this.deps.scheduler.cancel(id, by.name);
    return r.ok ? { ok: true } : { ok: false, message: `job ${id} not found` };
  }

  async runAgain(id: string, as: WebUser): Promise<ActionResult<{ jobId: string }>> {
    const row = await this.deps.jobs.get(id);
    if (!row) return { ok: false, message: `job ${id} not found` };
    const r = await this.deps.scheduler.enqueue(as.id, await this.deps.jobs.request(row));
    return r.ok ? { ok: true, jobId: r.job.id } : { ok: false, message: r.message };
  }

  // -- supervisors --

  async supervisors(): Promise<SupervisorSummary[]> {
    const rows = await this.deps.db.supervisors();
    return Promise.all(rows.map(async (row) => (await this.supervisorSummary(row.id))!));
  }

  async supervisor(id: string): Promise<SupervisorSummary | null> {
    return this.supervisorSummary(id);
  }

  private async supervisorSummary(id: string): Promise<SupervisorSummary | null> {
    const row = await this.deps.db.supervisorById(id);
    if (!row) return null;
    const load = this.deps.scheduler.supervisorLoad(id);
    const info = {
      name: row.name,
      tags: parseTags(row.tags),
      status: !load.connected ? ('disconnected' as const) : load.jobId === null ? ('idle' as const) : ('busy' as const),
      job_id: load.jobId,
    };
    // The switchboard records no connection times; a disconnected supervisor was last heard
    // from in the newest event it sent for one of its jobs.
    const lastSeenAt = info.status === 'disconnected' ? await this.deps.db.supervisorLastSeen(id) : Date.now();
    return {
      id,
      name: info.name,
      tags: info.tags,
      connection: info.status,
      currentJobId: info.job_id,
      lastSeenAt,
    };
  }

  // -- users, sessions, tokens --

  async checkPassword(name: string, password: string): Promise<WebUser | null> {
    const user = await this.deps.db.userByName(name);
    // Unknown users cost one scrypt too, so timing does not tell which user names exist.
    this.dummyHash ??= hashPassword(randomBytes(16).toString('hex'));
    const ok = await verifyPassword(password, user?.password_hash ?? this.dummyHash);
    if (!user || user.password_hash === null || !ok || user.locked_at !== null) return null;
    return { id: user.id, name: user.name, isAdmin: user.is_admin === 1 };
  }

  async createSession(tokenHash: Buffer, userId: string, expiresAt: number): Promise<void> {
    await this.deps.db.addSession(tokenHash, userId, Date.now(), expiresAt);
  }

  async session(tokenHash: Buffer): Promise<SessionRecord | null> {
    const row = await this.deps.db.session(tokenHash);
    if (!row || row.expires_at <= Date.now()) return null;
    return { user: { id: row.id, name: row.name, isAdmin: row.is_admin === 1 }, expiresAt: row.expires_at };
  }

  async deleteSession(tokenHash: Buffer): Promise<void> {
    await this.deps.db.removeSession(tokenHash);
  }

  async createApiToken(userId: string, expiresAt: number | null): Promise<{ token: string; info: ApiTokenInfo }> {
    const t = newToken();
    const created = await this.deps.db.addToken(t.hash, userId, expiresAt);
    return { token: t.token, info: { id: t.hash.toString('hex'), createdAt: created, expiresAt } };
  }

  async apiTokens(userId: string): Promise<ApiTokenInfo[]> {
    const rows = await this.deps.db.userTokens(userId, Date.now(), MAX_LISTED_TOKENS);
    return rows.map((r) => ({ id: r.token_hash.toString('hex'), createdAt: r.created_at, expiresAt: r.expires_at }));
  }

  async revokeApiToken(userId: string, id: string): Promise<boolean> {
    if (!/^[0-9a-f]{64}$/.test(id)) return false;
    const removed = await this.deps.db.removeUserToken(userId, Buffer.from(id, 'hex'));
    this.deps.tokens?.forget();
    return removed;
  }
}
