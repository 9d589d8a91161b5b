// Test harness: an in-process switchboard on a temporary database, and a fake supervisor that
// speaks the real WebSocket protocol. The database is a SQLite file, or, with
// TML_TEST_SWITCHBOARD_DB=postgres, a fresh PostgreSQL database on TML_TEST_POSTGRES_URL's server
// (npm test runs the switchboard's tests both ways when that server is there).

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { API_PREFIX } from '../../protocol/switchboard-api.js';
import {
  WEBSOCKET_SUBPROTOCOL,
  parseToSupervisor,
  type JobEvent,
  type SupervisorStatus,
  type ToSupervisor,
  type ToSwitchboard,
} from '../../protocol/switchboard-ws.js';
import { type JobRequestBody, type RunningJobState } from '../../protocol/job.js';
import { newToken } from '../../switchboard/auth.js';
import type { JobRow, StoredJobRequest } from '../../switchboard/store.js';
import { createLogger, type Logger } from '../../protocol/log.js';
import { Switchboard, type SwitchboardOptions } from '../../switchboard/server.js';
import { createDatabase } from './postgres.js';

export const IMAGE_ID = 'ab'.repeat(32);

export function tempDir(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'tml-sb-test-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A `POST /jobs/new` body with every key, as upstream's clients send it. */
export function jobRequest(overrides: Partial<JobRequestBody> = {}): JobRequestBody {
  return {
    init_spec: { type: 'image', image_id: IMAGE_ID },
    ssh_keys: [],
    restart_policy: { remaining_restart_count: 0 },
    parameters: {},
    tag_config: '',
    override_timeout: null,
    ...overrides,
  };
}

/** A job request as the job store keeps it. */
export function storedJobRequest(overrides: Partial<StoredJobRequest> = {}): StoredJobRequest {
  return {
    init_spec: { type: 'image', image_id: IMAGE_ID },
    ssh_keys: [],
    restart_policy: { remaining_restart_count: 0 },
    parameters: {},
    tag_config: '',
    override_timeout: null,
    ...overrides,
  };
}

export interface Harness {
  sb: Switchboard;
  url: string;
  dir: string;
  /** Every log line the switchboard wrote. */
  logLines: string[];
  tokens: { alice: string; bob: string; admin: string; expired: string };
  addSupervisor(name: string, tags: string): Promise<{ id: string; token: string }>;
  /** REST call with a user's token. */
  api(
    token: string | null,
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; json: any; text: string }>;
  waitJob(id: string, pred: (job: JobRow) => boolean): Promise<JobRow>;
  close(): Promise<void>;
}

/** Which engine the in-process switchboards of these tests use. */
export const TEST_BACKEND: 'sqlite' | 'postgres' =
  process.env.TML_TEST_SWITCHBOARD_DB === 'postgres' ? 'postgres' : 'sqlite';

/** A database for one switchboard of a test, and how to remove it. */
export async function testDatabase(dir: string): Promise<{ db: string; drop: () => Promise<void> }> {
  if (TEST_BACKEND === 'sqlite') return { db: join(dir, 'sb.sqlite'), drop: async () => {} };
  const scratch = await createDatabase();
  return { db: scratch.url, drop: scratch.drop };
}

export async function startHarness(opts: Partial<SwitchboardOptions> = {}, listen = true): Promise<Harness> {
  const { dir, cleanup } = tempDir();
  const logLines: string[] = [];
  const log: Logger = createLogger({ level: 'debug', write: (l) => logLines.push(l) });
  const database = await testDatabase(dir);
  const sb = await Switchboard.open({
    db: database.db,
    log,
    queueTimeoutMs: 60_000,
    jobTimeoutMs: 60_000,
    gracePeriodMs: 60_000,
    pingIntervalMs: 60_000,
    keepaliveMs: 120_000,
    ...opts,
  });
  const token = async (user: string, expiresAt: number | null) => {
    const t = newToken();
    await sb.db.addToken(t.hash, (await sb.db.userByName(user))!.id, expiresAt);
    return t.token;
  };
  await sb.db.addUser('alice', null, false);
  await sb.db.addUser('bob', null, false);
  await sb.db.addUser('admin', null, true);
  const tokens = {
    alice: await token('alice', null),
    bob: await token('bob', Date.now() + 3_600_000),
    admin: await token('admin', null),
    expired: await token('alice', Date.now() - 1000),
  };
  const url = listen ? await sb.listen('127.0.0.1', 0) : '';
  return {
    sb,
    url,
    dir,
    logLines,
    tokens,
    async addSupervisor(name, tags) {
      const t = newToken();
      const row = await sb.db.addSupervisor(name, tags, t.hash);
      return { id: row.id, token: t.token };
    },
    async api(tok, method, path, body) {
      const res = await sb.app.inject({
        method: method as 'GET',
        url: `${API_PREFIX}${path}`,
        headers: {
          ...(tok ? { authorization: `Bearer ${tok}` } : {}),
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        payload: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      });
      let json: any = undefined;
      try {
        json = res.json();
      } catch {
        // not JSON
      }
      return { status: res.statusCode, json, text: res.body };
    },
    waitJob(id, pred) {
      // Console output announces itself with 'log', every other change with 'changed'.
      return new Promise((resolve, reject) => {
        const check = async () => {
          const job = await sb.jobs.get(id);
          if (!job || !pred(job)) return;
          sb.jobs.off('changed', onEvent);
          sb.jobs.off('log', onEvent);
          resolve(job);
        };
        const onEvent = () => void check().catch(reject);
        // Listening first, so a change while the first check reads is not missed.
        sb.jobs.on('changed', onEvent);
        sb.jobs.on('log', onEvent);
        onEvent();
      });
    },
    async close() {
      await sb.close();
      await database.drop();
      cleanup();
    },
  };
}

/** A supervisor driven by the test over a real WebSocket. */
export class FakeSupervisor {
  readonly received: ToSupervisor[] = [];
  /** Every text message exactly as it arrived. */
  readonly raw: string[] = [];
  private waiters: Array<{ pred: (m: ToSupervisor) => boolean; resolve: (m: ToSupervisor) => void }> = [];
  /** What it answers to status_request; null: do not answer. */
  status: SupervisorStatus | null = { type: 'idle' };
  /** Whether it answers the switchboard's pings (a test may stop it at any time). */
  answerPings = true;

  private constructor(readonly ws: WebSocket) {
    ws.on('ping', (data) => {
      if (this.answerPings) ws.pong(data);
    });
    ws.on('message', (data) => {
      this.raw.push(data.toString());
      const msg = parseToSupervisor(data.toString());
      this.received.push(msg);
      if (msg.type === 'status_request' && this.status) {
        this.send({
          type: 'status_response',
          message: { response_to_request_id: msg.message.request_id, message: this.status },
        });
      }
      this.waiters = this.waiters.filter((w) => {
        if (!w.pred(msg)) return true;
        w.resolve(msg);
        return false;
      });
    });
  }

  static connect(
    baseUrl: string,
    id: string,
    token: string,
    status: SupervisorStatus | null = { type: 'idle' },
    opts: { answerPings?: boolean } = {},
  ): Promise<FakeSupervisor> {
    const ws = new WebSocket(
      `${baseUrl.replace(/^http/, 'ws')}${API_PREFIX}/supervisors/${id}/connect`,
      WEBSOCKET_SUBPROTOCOL,
      {
        headers: { authorization: `Bearer ${token}` },
        autoPong: false,
      },
    );
    const fake = new FakeSupervisor(ws);
    fake.status = status;
    fake.answerPings = opts.answerPings ?? true;
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(fake));
      ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.once('end', () => reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { body })));
      });
      ws.once('error', reject);
    });
  }

  /** The first message (already received or future) of `type` matching `pred`. */
  next<T extends ToSupervisor['type']>(
    type: T,
    pred: (m: Extract<ToSupervisor, { type: T }>) => boolean = () => true,
  ): Promise<Extract<ToSupervisor, { type: T }>> {
    const match = (m: ToSupervisor) => m.type === type && pred(m as Extract<ToSupervisor, { type: T }>);
    const seen = this.received.find(match);
    if (seen) return Promise.resolve(seen as Extract<ToSupervisor, { type: T }>);
    return new Promise((resolve) => this.waiters.push({ pred: match, resolve: resolve as (m: ToSupervisor) => void }));
  }

  send(msg: ToSwitchboard): void {
    this.ws.send(JSON.stringify(msg));
  }

  event(jobId: string, event: JobEvent): void {
    this.send({ type: 'supervisor_event', message: { type: 'job_event', job_id: jobId, event } });
  }

  transition(jobId: string, newState: RunningJobState, statusMessage: string | null = null): void {
    this.event(jobId, { type: 'state_transition', new_state: newState, status_message: statusMessage });
  }

  declare(jobId: string, status: 'success' | 'error' | 'unknown', hostOutput: string | null = null): void {
    this.event(jobId, { type: 'declare_exit_status', user_exit_status: status, host_output: hostOutput });
  }

  console(jobId: string, text: string): void {
    this.event(jobId, { type: 'console_log', console_bytes: [...Buffer.from(text)] });
  }

  /** Runs a job to the end the way a healthy host does. */
  finish(jobId: string, status: 'success' | 'error' | 'unknown' = 'success'): void {
    this.transition(jobId, { state: 'initializing', stage: 'booting' });
    this.transition(jobId, { state: 'ready' });
    this.declare(jobId, status);
    this.transition(jobId, { state: 'terminating' });
    this.transition(jobId, { state: 'terminated' });
  }

  close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      this.ws.once('close', () => resolve());
      this.ws.close();
    });
  }
}
