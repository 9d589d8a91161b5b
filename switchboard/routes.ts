// The REST API under /api/v1. Bodies are parsed once by the validators of api.ts; every error
// answer is `{"error": {"code", "message"}}`; secret parameter values never leave the database
// through here.

import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  API_PREFIX,
  parseLoginRequest,
  type EnqueueResponse,
  type JobEventRecord,
  type JobStatusResponse,
  type LoginResponse,
  type MaskedParameters,
} from '../protocol/switchboard-api.js';
import { ValidationError, isUuid } from '../protocol/validation.js';
import { parseJobRequest } from '../protocol/job.js';
import { bearerToken, hashPassword, newToken, tokenHash, verifyPassword } from './auth.js';
import type { JobRow, SwitchboardDb, UserRow } from './db.js';
import type { JobStore } from './jobs.js';
import type { Logger } from './logger.js';
import type { Scheduler } from './scheduler.js';

class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface RouteDeps {
  db: SwitchboardDb;
  jobs: JobStore;
  scheduler: Scheduler;
  log: Logger;
  loginTokenLifetimeMs: number;
  /** Largest log response without `follow`. */
  maxLogResponseBytes?: number;
}

declare module 'fastify' {
  interface FastifyRequest {
    user: UserRow | null;
  }
}

let dummy: string | null = null;
const dummyHash = (): string => (dummy ??= hashPassword(randomBytes(16).toString('hex')));

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

function maskParameters(parameters: Record<string, { value: string; secret: boolean }>): MaskedParameters {
  const out: MaskedParameters = {};
  for (const [name, p] of Object.entries(parameters))
    out[name] = p.secret ? { secret: true } : { secret: false, value: p.value };
  return out;
}

function jobStatus(job: JobRow, owner: string, supervisorName: string | null, jobs: JobStore): JobStatusResponse {
  const req = jobs.request(job);
  return {
    job_id: job.id,
    owner,
    state: job.state,
    stage: job.stage,
    status_message: job.status_message,
    exit_status: job.exit_status,
    exit_message: job.exit_message,
    supervisor_id: job.supervisor_id,
    supervisor_name: supervisorName,
    tag_config: job.tag_config,
    init_spec: req.init_spec,
    parameters: maskParameters(req.parameters),
    ssh_keys: req.ssh_keys,
    timeout_seconds: req.override_timeout,
    queued_at: iso(job.queued_at)!,
    scheduled_at: iso(job.scheduled_at),
    updated_at: iso(job.updated_at)!,
    terminated_at: iso(job.terminated_at),
    log_bytes: job.log_end,
  };
}

export function registerRoutes(app: FastifyInstance, deps: RouteDeps): void {
  const { db, jobs, scheduler, log } = deps;
  const maxLogResponse = deps.maxLogResponseBytes ?? 4 * 1024 * 1024;

  app.decorateRequest('user', null);

  app.addHook('onRequest', async (req) => {
    if (req.method === 'POST' && req.url === `${API_PREFIX}/tokens/login`) return;
    const token = bearerToken(req.headers.authorization);
    if (!token) throw new HttpError(401, 'unauthorized', 'missing "Authorization: Bearer <token>" header');
    const row = db.tokenByHash(tokenHash(token));
    if (!row) throw new HttpError(401, 'unauthorized', 'invalid API token');
    if (row.expires_at !== null && row.expires_at <= Date.now())
      throw new HttpError(401, 'unauthorized', 'API token has expired');
    req.user = row;
  });

  const userOf = (req: FastifyRequest): UserRow => req.user!;
  const ownerNames = new Map<string, string>();
  const ownerName = (id: string): string => {
    let name = ownerNames.get(id);
    if (name === undefined) ownerNames.set(id, (name = db.userById(id)?.name ?? id));
    return name;
  };

  const supervisorNames = new Map<string, string>();
  const supervisorName = (id: string | null): string | null => {
    if (id === null) return null;
    let name = supervisorNames.get(id);
    if (name === undefined) supervisorNames.set(id, (name = db.supervisorById(id)?.name ?? id));
    return name;
  };
  const status = (job: JobRow) => jobStatus(job, ownerName(job.owner_id), supervisorName(job.supervisor_id), jobs);

  const visibleJob = (req: FastifyRequest<{ Params: { id: string } }>): JobRow => {
    const id = req.params.id;
    const job = isUuid(id) ? jobs.get(id) : undefined;
    if (!job) throw new HttpError(404, 'not_found', `job ${id.slice(0, 64)} not found`);
    const user = userOf(req);
    if (job.owner_id !== user.id && !user.is_admin)
      throw new HttpError(403, 'forbidden', `job ${id} belongs to another user`);
    return job;
  };

  app.post(`${API_PREFIX}/tokens/login`, async (req): Promise<LoginResponse> => {
    const body = parseLoginRequest(req.body);
    const user = db.userByName(body.user);
    // Unknown users cost one scrypt too, so timing does not tell which user names exist.
    const ok = await verifyPassword(body.password, user?.password_hash ?? dummyHash());
    if (!user || user.password_hash === null || !ok) {
      log.info(`failed login for user ${JSON.stringify(body.user.slice(0, 64))}`);
      throw new HttpError(401, 'unauthorized', 'wrong user name or password');
    }
    db.pruneExpiredTokens();
    const { token, hash } = newToken();
    const expires = Date.now() + deps.loginTokenLifetimeMs;
    db.addToken(hash, user.id, expires);
    log.info(`user ${user.name} logged in`);
    return { token, expires_at: new Date(expires).toISOString() };
  });

  app.post(`${API_PREFIX}/jobs/new`, async (req): Promise<EnqueueResponse> => {
    const request = parseJobRequest(req.body);
    const job = scheduler.enqueue(userOf(req).id, request);
    return { job_id: job.id };
  });

  app.get<{ Querystring: { limit?: string } }>(`${API_PREFIX}/jobs`, async (req): Promise<JobStatusResponse[]> => {
    const limit = req.query.limit === undefined ? 200 : Number(req.query.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 10000)
      throw new HttpError(400, 'bad_request', 'limit must be an integer from 1 to 10000');
    const user = userOf(req);
    return db.jobs(user.is_admin ? null : user.id, limit).map(status);
  });

  app.get<{ Params: { id: string } }>(`${API_PREFIX}/jobs/:id/status`, async (req): Promise<JobStatusResponse> => {
    return status(visibleJob(req));
  });

  app.delete<{ Params: { id: string } }>(`${API_PREFIX}/jobs/:id`, async (req): Promise<JobStatusResponse> => {
    const job = visibleJob(req);
    const r = scheduler.cancel(job.id, userOf(req).name);
    if (!r.ok) throw new HttpError(r.status, r.status === 404 ? 'not_found' : 'conflict', r.message);
    return status(r.job);
  });

  app.get<{ Params: { id: string } }>(`${API_PREFIX}/jobs/:id/events`, async (req): Promise<JobEventRecord[]> => {
    const job = visibleJob(req);
    return db.events(job.id).map((e) => ({
      at: iso(e.at)!,
      kind: e.kind,
      by: e.by,
      state: e.state,
      stage: e.stage,
      status_message: e.status_message,
      exit_status: e.exit_status,
    }));
  });

  app.get<{ Params: { id: string }; Querystring: { offset?: string; follow?: string } }>(
    `${API_PREFIX}/jobs/:id/log`,
    async (req, reply) => {
      const job = visibleJob(req);
      const offset = req.query.offset === undefined ? 0 : Number(req.query.offset);
      if (!Number.isSafeInteger(offset) || offset < 0)
        throw new HttpError(400, 'bad_request', 'offset must be a non-negative integer');
      const follow = req.query.follow === '1' || req.query.follow === 'true';
      const start = Math.min(Math.max(offset, job.log_start), job.log_end);
      reply.header('content-type', 'application/octet-stream').header('x-log-offset', String(start));
      if (!follow) {
        const { data, next } = readLog(db, job.id, start, maxLogResponse);
        reply
          .header('x-log-next-offset', String(next))
          .header('x-job-terminated', job.state === 'terminated' ? '1' : '0');
        return data;
      }
      // Headers go out at once, so a follower knows it is connected before any output exists.
      reply.hijack();
      reply.raw.writeHead(200, {
        'content-type': 'application/octet-stream',
        'x-log-offset': String(start),
        'cache-control': 'no-store',
      });
      reply.raw.flushHeaders();
      followLog(reply, jobs, db, job.id, start).pipe(reply.raw);
      return reply;
    },
  );

  app.get(`${API_PREFIX}/supervisors`, async () => scheduler.supervisors());

  app.get<{ Params: { id: string } }>(`${API_PREFIX}/supervisors/:id/status`, async (req) => {
    const row = isUuid(req.params.id) ? db.supervisorById(req.params.id) : undefined;
    if (!row) throw new HttpError(404, 'not_found', `supervisor ${req.params.id.slice(0, 64)} not found`);
    return scheduler.supervisorInfo(row);
  });

  // A plain GET reaches this route; WebSocket upgrades are taken by the supervisor hub first.
  app.get(`${API_PREFIX}/supervisors/:id/connect`, async () => {
    throw new HttpError(
      426,
      'upgrade_required',
      'this endpoint takes a WebSocket upgrade with subprotocol treadmillv1',
    );
  });

  app.setNotFoundHandler(async (req) => {
    throw new HttpError(404, 'not_found', `no route ${req.method} ${req.url.split('?')[0]}`);
  });

  app.setErrorHandler(async (err: Error & { statusCode?: number; code?: string }, req, reply) => {
    let status = err instanceof ValidationError ? 400 : (err.statusCode ?? 500);
    if (status < 400 || status > 599) status = 500;
    if (status >= 500) log.error(`${req.method} ${req.url.split('?')[0]} failed: ${err.stack ?? err.message}`);
    const code =
      err instanceof HttpError
        ? err.code
        : err instanceof ValidationError
          ? 'invalid_request'
          : status === 413
            ? 'body_too_large'
            : err.code?.startsWith('FST_ERR_CTP')
              ? 'invalid_body'
              : (err.code ?? 'error').toLowerCase();
    return reply
      .status(status)
      .send({ error: { code, message: status >= 500 ? 'internal server error' : err.message } });
  });
}

function readLog(db: SwitchboardDb, jobId: string, start: number, maxBytes: number): { data: Buffer; next: number } {
  const parts: Buffer[] = [];
  let pos = start;
  let size = 0;
  while (size < maxBytes) {
    const chunks = db.readLog(jobId, pos, 64);
    if (chunks.length === 0) break;
    for (const c of chunks) {
      const slice = c.data.subarray(Math.max(0, pos - c.offset), Math.max(0, pos - c.offset) + (maxBytes - size));
      parts.push(slice);
      size += slice.length;
      pos = Math.max(pos, c.offset) + slice.length;
      if (size >= maxBytes) break;
    }
  }
  return { data: Buffer.concat(parts), next: pos };
}

/** Streams the log from `start` as it grows, until the job has terminated and everything is sent. */
function followLog(reply: FastifyReply, jobs: JobStore, db: SwitchboardDb, jobId: string, start: number): PassThrough {
  const out = new PassThrough();
  const gone = new AbortController();
  let wake: (() => void) | null = null;
  const poke = (id: string) => {
    if (id !== jobId || !wake) return;
    const w = wake;
    wake = null;
    w();
  };
  const onLog = (id: string) => poke(id);
  const onChanged = (job: JobRow) => poke(job.id);
  jobs.on('log', onLog);
  jobs.on('changed', onChanged);
  reply.raw.on('close', () => {
    gone.abort();
    poke(jobId);
  });
  void (async () => {
    let pos = start;
    try {
      while (!gone.signal.aborted) {
        const job = jobs.get(jobId);
        if (!job) break;
        // A reader that fell behind the kept window skips to its start.
        if (pos < job.log_start) pos = job.log_start;
        if (pos < job.log_end) {
          for (const c of db.readLog(jobId, pos, 16)) {
            const slice = c.data.subarray(Math.max(0, pos - c.offset));
            pos = c.offset + c.data.length;
            if (!out.write(slice)) await once(out, 'drain', { signal: gone.signal });
          }
          continue;
        }
        if (job.state === 'terminated') break;
        await new Promise<void>((resolve) => (wake = resolve));
      }
    } catch {
      // the client went away
    } finally {
      jobs.off('log', onLog);
      jobs.off('changed', onChanged);
      out.end();
    }
  })();
  return out;
}
