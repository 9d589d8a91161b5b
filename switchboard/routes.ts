// The REST API under /api/v1, in upstream's shapes (protocol/switchboard-api.ts): every answer is one
// JSON object tagged by `type` with the HTTP status of its variant. Bodies are parsed once by the
// validators of protocol/; secret parameter values never leave the database through here.

import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  API_PREFIX,
  ERROR_STATUS,
  parseLoginRequest,
  parseSupervisorFilter,
  type ApiErrorType,
  type CancelAnswer,
  type EnqueueResponse,
  type ExtendedJobState,
  type JobDetailExtensions,
  type JobEventsAnswer,
  type JobListAnswer,
  type JobStatus,
  type JobStatusAnswer,
  type JobSummaryExtensions,
  type LoginResponse,
  type MaskedParameters,
  type SupervisorListAnswer,
  type SupervisorStatusAnswer,
  type ApiSupervisorStatusExt,
} from '../protocol/switchboard-api.js';
import { ValidationError, isUuid } from '../protocol/validation.js';
import { parseJobRequest, type ImageSpec, type JobRequest, type RunningJobState } from '../protocol/job.js';
import {
  EVENTS_PAGE_LIMIT,
  JOB_LIST_LIMIT,
  parseEventsQuery,
  parseJobListQuery,
  parseLogQuery,
} from '../protocol/job-query.js';
import {
  bearerToken,
  hashPassword,
  isWellFormedToken,
  newToken,
  tokenHash,
  tokenMatches,
  verifyPassword,
} from './auth.js';
import { registerConsoleInputRoute } from './console-input-route.js';
import type { InteractiveJobs } from './interactive.js';
import {
  StoreUnavailable,
  type JobRow,
  type StoredJobRequest,
  type SupervisorRow,
  type SwitchboardStore,
  type UserRow,
} from './store.js';
import type { JobStore } from './jobs.js';
import { limitMessage, retryAfterSeconds, type LoginLimits } from './login-limits.js';
import type { Logger } from '../protocol/log.js';
import { parseTags } from './matcher.js';
import type { RecentTokens } from './recent-tokens.js';
import type { Scheduler } from './scheduler.js';

/** An error answer: `{"type": type, "message": message}` with the status of `type`. */
class ApiError extends Error {
  constructor(
    readonly type: ApiErrorType,
    message: string,
  ) {
    super(message);
  }
}

export interface RouteDeps {
  db: SwitchboardStore;
  jobs: JobStore;
  scheduler: Scheduler;
  log: Logger;
  loginTokenLifetimeMs: number;
  loginLimits: LoginLimits;
  /** Largest log response without `follow`. */
  maxLogResponseBytes?: number;
  /** Our WebSocket extensions: a running job's SSH endpoints. */
  interactive?: InteractiveJobs;
  /** Where bearer tokens are looked up. */
  tokens: RecentTokens;
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

/** Upstream's ExtendedJobState of a job: its state, where it was dispatched and, once ended, its result. */
function extendedState(job: JobRow): ExtendedJobState {
  return {
    ...(job.state === 'initializing' ? { type: job.state, stage: job.stage ?? 'starting' } : { type: job.state }),
    dispatched_to_supervisor: job.supervisor_id,
    // Filled in from what the supervisor reports (interactive.ts), while the job runs.
    ssh_endpoints: null,
    ssh_user: null,
    ssh_host_keys: null,
    result:
      job.state === 'terminated'
        ? {
            job_id: job.id,
            supervisor_id: job.supervisor_id,
            // Every terminated job has an exit status (lifecycle.ts); the fallback is never used.
            exit_status: job.exit_status ?? 'internal_supervisor_error',
            host_output: job.exit_message,
            terminated_at: iso(job.terminated_at ?? job.updated_at)!,
          }
        : null,
  };
}

/** The running-job state a busy supervisor is in, from the job it runs. */
function runningState(job: JobRow | undefined, foreign: boolean): RunningJobState {
  // A job stopped here but still running there is on its way out.
  if (foreign || !job) return { state: 'terminating' };
  switch (job.state) {
    case 'initializing':
      return { state: 'initializing', stage: job.stage ?? 'starting' };
    case 'ready':
    case 'terminating':
    case 'terminated':
      return { state: job.state };
    default:
      // Scheduled: the supervisor has been sent start_job and reports nothing yet.
      return { state: 'initializing', stage: 'starting' };
  }
}

export function registerRoutes(app: FastifyInstance, deps: RouteDeps): void {
  const { db, jobs, scheduler, log } = deps;
  const maxLogResponse = deps.maxLogResponseBytes ?? 4 * 1024 * 1024;

  app.decorateRequest('user', null);

  /** The bearer token's user, or an `unauthenticated` refusal. */
  const authenticate = async (req: FastifyRequest): Promise<void> => {
    const token = bearerToken(req.headers.authorization);
    if (!token) throw new ApiError('unauthenticated', 'missing "Authorization: Bearer <token>" header');
    if (!isWellFormedToken(token)) {
      throw new ApiError('unauthenticated', 'an API token is the standard base64 of 128 bytes; this one is not');
    }
    const hash = tokenHash(token);
    const row = await deps.tokens.owner(hash);
    if (!row || !tokenMatches(token, row.token_hash)) throw new ApiError('unauthenticated', 'invalid API token');
    if (row.expires_at !== null && row.expires_at <= Date.now())
      throw new ApiError('unauthenticated', 'API token has expired');
    if (row.locked_at !== null) throw new ApiError('unauthenticated', 'this user is locked; ask an admin');
    req.user = row;
  };

  const userOf = (req: FastifyRequest): UserRow => req.user!;
  const ownerNames = new Map<string, string>();
  const ownerName = async (id: string): Promise<string> => {
    let name = ownerNames.get(id);
    if (name === undefined) ownerNames.set(id, (name = (await db.userById(id))?.name ?? id));
    return name;
  };

  const supervisorNames = new Map<string, string>();
  const supervisorName = async (id: string | null): Promise<string | null> => {
    if (id === null) return null;
    let name = supervisorNames.get(id);
    if (name === undefined) supervisorNames.set(id, (name = (await db.supervisorById(id))?.name ?? id));
    return name;
  };

  const summary = async (job: JobRow): Promise<JobSummaryExtensions> => ({
    job_id: job.id,
    owner: await ownerName(job.owner_id),
    status_message: job.status_message,
    exit_status: job.exit_status,
    exit_message: job.exit_message,
    supervisor_name: await supervisorName(job.supervisor_id),
    tag_config: job.tag_config,
    init_spec: JSON.parse(job.init_spec) as ImageSpec,
    restart_of: job.restart_of,
    timeout_seconds: job.override_timeout,
    queued_at: iso(job.queued_at)!,
    scheduled_at: iso(job.scheduled_at),
    updated_at: iso(job.updated_at)!,
    terminated_at: iso(job.terminated_at),
    log_bytes: job.log_end,
  });

  /** A job as `GET /jobs/:id/status` shows it; list entries leave out parameters and SSH keys. */
  const jobStatus = async (job: JobRow, asOf: string, detail: boolean): Promise<JobStatus> => {
    let ext: JobSummaryExtensions | JobDetailExtensions = await summary(job);
    if (detail) {
      const req = await jobs.request(job);
      ext = { ...ext, parameters: maskParameters(req.parameters), ssh_keys: req.ssh_keys };
    }
    return { state: { ...extendedState(job), ...deps.interactive?.ssh(job) }, as_of: asOf, ...ext };
  };

  const mayAccess = (user: UserRow, job: JobRow) => job.owner_id === user.id || user.is_admin === 1;

  /** The job of `:id`, if the caller may see it; otherwise `invalid`, as upstream answers both cases. */
  const visibleJob = async (req: FastifyRequest<{ Params: { id: string } }>): Promise<JobRow> => {
    const id = req.params.id;
    const job = isUuid(id) ? await jobs.get(id) : undefined;
    if (!job || !mayAccess(userOf(req), job)) throw new ApiError('invalid', `no job ${id.slice(0, 64)} visible to you`);
    return job;
  };

  /** Resolves resume_job / restart_job against an earlier job of the caller's. */
  const storedRequest = async (user: UserRow, request: JobRequest): Promise<StoredJobRequest> => {
    const spec = request.init_spec;
    if (spec.type === 'image') return { ...request, init_spec: spec };
    const earlier = await jobs.get(spec.job_id);
    if (!earlier) throw new ApiError('invalid', `init_spec.job_id: job ${spec.job_id} does not exist`);
    if (!mayAccess(user, earlier)) {
      throw new ApiError('unauthorized', `init_spec.job_id: job ${spec.job_id} belongs to another user`);
    }
    if (spec.type === 'resume_job') return { ...request, init_spec: spec };
    // As upstream: the new job runs what the earlier one ran; everything else is this request's.
    return { ...request, init_spec: (await jobs.request(earlier)).init_spec, restart_of: earlier.id };
  };

  const supervisorStatus = async (row: SupervisorRow): Promise<ApiSupervisorStatusExt> => {
    const load = scheduler.supervisorLoad(row.id);
    const ext = { id: row.id, name: row.name, tags: parseTags(row.tags) };
    if (load.jobId === null) return { status: load.connected ? 'idle' : 'disconnected', ...ext };
    return {
      status: load.connected ? 'busy' : 'busy_disconnected',
      job_id: load.jobId,
      job_state: runningState(await jobs.get(load.jobId), load.foreign),
      ...ext,
    };
  };

  app.post(`${API_PREFIX}/tokens/login`, async (req, reply): Promise<LoginResponse> => {
    const body = parseLoginRequest(req.body);
    const limit = deps.loginLimits.check(body.user_identifier, req.ip);
    if (!limit.ok) {
      reply.header('retry-after', String(retryAfterSeconds(limit.retryAfterMs)));
      throw new ApiError('too_many_requests', limitMessage(limit));
    }
    const user = await db.userByIdentifier(body.user_identifier);
    // Unknown users cost one scrypt too, so timing does not tell which names exist.
    const ok = await verifyPassword(body.password, user?.password_hash ?? dummyHash());
    if (!user || user.password_hash === null || !ok) {
      log.info(`failed login for ${JSON.stringify(body.user_identifier.slice(0, 64))} from ${req.ip}`);
      deps.loginLimits.failed(body.user_identifier, req.ip);
      throw new ApiError('unauthorized', 'wrong user name, e-mail address or password');
    }
    if (user.locked_at !== null) throw new ApiError('unauthorized', 'this user is locked; ask an admin');
    deps.loginLimits.succeeded(body.user_identifier);
    await db.pruneExpiredTokens();
    const { token, hash } = newToken();
    const expires = Date.now() + deps.loginTokenLifetimeMs;
    await db.addToken(hash, user.id, expires);
    log.info(`user ${user.name} logged in`);
    return { token, expires_at: new Date(expires).toISOString() };
  });

  // Every route but login takes a bearer token: the hook holds inside this plugin only.
  app.register(async (authed) => {
    authed.addHook('onRequest', authenticate);
    authed.post(`${API_PREFIX}/jobs/new`, async (req): Promise<EnqueueResponse> => {
      const user = userOf(req);
      const r = await scheduler.enqueue(user.id, await storedRequest(user, parseJobRequest(req.body)));
      if (!r.ok) throw new ApiError(r.reason === 'no_match' ? 'supervisor_match_error' : 'queue_limit', r.message);
      return { type: 'ok', job_id: r.job.id };
    });

    authed.get<{ Querystring: Record<string, unknown> }>(`${API_PREFIX}/jobs`, async (req): Promise<JobListAnswer> => {
      const q = parseJobListQuery(req.query);
      const user = userOf(req);
      const limit = q.limit ?? JOB_LIST_LIMIT.default;
      const list: JobListAnswer['jobs'] = {};
      const asOf = new Date().toISOString();
      let supervisorId: string | undefined;
      if (q.supervisor !== undefined) {
        const wanted = q.supervisor.toLowerCase();
        supervisorId = (await db.supervisors()).find((s) => s.id === wanted || s.name === q.supervisor)?.id;
        if (supervisorId === undefined) return { type: 'ok', jobs: list, next_cursor: null };
      }
      const filter = {
        ...(user.is_admin ? {} : { ownerId: user.id }),
        ...(q.state !== undefined && { state: q.state }),
        ...(q.exit_status !== undefined && { exitStatus: q.exit_status }),
        ...(supervisorId !== undefined && { supervisorId }),
        ...(q.since !== undefined && { queuedFrom: Date.parse(q.since) }),
      };
      // The tag is checked here (tags are ;-separated text in the row): read on until the page is
      // full, in batches, so a rare tag costs time but never memory.
      let beforeSeq = q.cursor === undefined ? undefined : Number(q.cursor);
      let count = 0;
      let last: number | undefined;
      for (;;) {
        const rows = await db.jobPage({ ...filter, limit: limit + 1, ...(beforeSeq !== undefined && { beforeSeq }) });
        for (const job of rows) {
          beforeSeq = job.seq;
          if (q.tag !== undefined && !parseTags(job.tag_config).includes(q.tag)) continue;
          if (count === limit) return { type: 'ok', jobs: list, next_cursor: String(last) };
          list[job.id] = await jobStatus(job, asOf, false);
          count++;
          last = job.seq;
        }
        if (rows.length <= limit) return { type: 'ok', jobs: list, next_cursor: null };
      }
    });

    authed.get<{ Params: { id: string } }>(`${API_PREFIX}/jobs/:id/status`, async (req): Promise<JobStatusAnswer> => {
      return { type: 'ok', job_status: await jobStatus(await visibleJob(req), new Date().toISOString(), true) };
    });

    authed.delete<{ Params: { id: string } }>(`${API_PREFIX}/jobs/:id`, async (req): Promise<CancelAnswer> => {
      const job = await visibleJob(req);
      const r = await scheduler.cancel(job.id, userOf(req).name);
      if (!r.ok) throw new ApiError('invalid', `no job ${job.id} visible to you`);
      return { type: 'ok', job_status: await jobStatus(r.job, new Date().toISOString(), true) };
    });

    authed.get<{ Params: { id: string }; Querystring: Record<string, unknown> }>(
      `${API_PREFIX}/jobs/:id/events`,
      async (req): Promise<JobEventsAnswer> => {
        const job = await visibleJob(req);
        const q = parseEventsQuery(req.query);
        const limit = q.limit ?? EVENTS_PAGE_LIMIT.default;
        const rows = await db.events(job.id, q.after ?? 0, limit);
        const events = rows.map((e) => ({
          seq: e.seq,
          at: iso(e.at)!,
          kind: e.kind,
          by: e.by,
          state: e.state,
          stage: e.stage,
          status_message: e.status_message,
          exit_status: e.exit_status,
        }));
        return { type: 'ok', events, next: rows.length === limit ? rows.at(-1)!.seq : null };
      },
    );

    authed.get<{ Params: { id: string }; Querystring: Record<string, unknown> }>(
      `${API_PREFIX}/jobs/:id/log`,
      async (req, reply) => {
        const job = await visibleJob(req);
        const q = parseLogQuery(req.query);
        const offset = q.offset ?? 0;
        const follow = q.follow === true;
        const start = Math.min(Math.max(offset, job.log_start), job.log_end);
        reply.header('content-type', 'application/octet-stream').header('x-log-offset', String(start));
        if (!follow) {
          const { data, next } = await readLog(db, job.id, start, maxLogResponse);
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

    authed.get<{ Querystring: Record<string, unknown> }>(
      `${API_PREFIX}/supervisors`,
      async (req): Promise<SupervisorListAnswer> => {
        const filter = parseSupervisorFilter(req.query);
        const list: SupervisorListAnswer['supervisors'] = {};
        for (const row of await db.supervisors()) {
          const s = await supervisorStatus(row);
          const busy = s.status === 'busy' || s.status === 'busy_disconnected';
          const connected = s.status === 'busy' || s.status === 'idle';
          if (filter.work !== null && (filter.work === 'busy') !== busy) continue;
          if (filter.conn !== null && (filter.conn === 'connected') !== connected) continue;
          list[row.id] = s;
        }
        return { type: 'ok', supervisors: list };
      },
    );

    authed.get<{ Params: { id: string } }>(
      `${API_PREFIX}/supervisors/:id/status`,
      async (req): Promise<SupervisorStatusAnswer> => {
        const row = isUuid(req.params.id) ? await db.supervisorById(req.params.id) : undefined;
        if (!row) throw new ApiError('invalid', `no supervisor ${req.params.id.slice(0, 64)}`);
        return { type: 'ok', status: await supervisorStatus(row) };
      },
    );

    // A plain GET reaches this route; WebSocket upgrades are taken by the supervisor hub first.
    authed.get(`${API_PREFIX}/supervisors/:id/connect`, async () => {
      throw new ApiError('upgrade_required', 'this endpoint takes a WebSocket upgrade with subprotocol treadmillv1');
    });

    if (deps.interactive) registerConsoleInputRoute(authed, { jobs, interactive: deps.interactive });
  });

  // No route is shown to a caller without a token either: it learns no more than 401.
  app.setNotFoundHandler({ preHandler: authenticate }, async (req) => {
    throw new ApiError('not_found', `no route ${req.method} ${req.url.split('?')[0]}`);
  });

  app.setErrorHandler(async (err: Error & { statusCode?: number; code?: string }, req, reply) => {
    let type: ApiErrorType;
    let message = err.message;
    if (err instanceof ApiError) type = err.type;
    else if (err instanceof StoreUnavailable) {
      type = err.kind === 'full' ? 'storage_full' : 'internal';
      message =
        err.kind === 'full'
          ? 'the switchboard cannot store anything now: its disk is full'
          : 'the database is unavailable';
      log.error(`${req.method} ${req.url.split('?')[0]} failed: ${err.message}`);
    } else if (err instanceof ValidationError) type = 'bad_request';
    else if (err.statusCode === 413) type = 'payload_too_large';
    else if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      type = 'bad_request';
      message = 'the body must be JSON (content-type: application/json)';
    } else if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) type = 'bad_request';
    else {
      type = 'internal';
      message = 'internal server error';
      log.error(`${req.method} ${req.url.split('?')[0]} failed: ${err.stack ?? err.message}`);
    }
    return reply.status(ERROR_STATUS[type]).send({ type, message });
  });
}

async function readLog(
  db: SwitchboardStore,
  jobId: string,
  start: number,
  maxBytes: number,
): Promise<{ data: Buffer; next: number }> {
  const parts: Buffer[] = [];
  let pos = start;
  let size = 0;
  while (size < maxBytes) {
    const chunks = await db.readLog(jobId, pos, 64);
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
function followLog(
  reply: FastifyReply,
  jobs: JobStore,
  db: SwitchboardStore,
  jobId: string,
  start: number,
): PassThrough {
  const out = new PassThrough();
  const gone = new AbortController();
  // Set by every change of the job, so one that lands while the loop reads is not missed.
  let changed = false;
  let wake: (() => void) | null = null;
  const poke = (id: string) => {
    if (id !== jobId) return;
    changed = true;
    const w = wake;
    wake = null;
    w?.();
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
        changed = false;
        const job = await jobs.get(jobId);
        if (!job) break;
        // A reader that fell behind the kept window skips to its start.
        if (pos < job.log_start) pos = job.log_start;
        if (pos < job.log_end) {
          for (const c of await db.readLog(jobId, pos, 16)) {
            const slice = c.data.subarray(Math.max(0, pos - c.offset));
            pos = c.offset + c.data.length;
            if (!out.write(slice)) await once(out, 'drain', { signal: gone.signal });
          }
          continue;
        }
        if (job.state === 'terminated') break;
        if (!changed) await new Promise<void>((resolve) => (wake = resolve));
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
