// The web console as one encapsulated fastify plugin: security headers (strict CSP), cookies,
// form bodies, CSRF tokens, login rate limits and the static files apply only inside it, and it
// reaches the switchboard only through WebData (data.ts).

import fastifyCookie from '@fastify/cookie';
import fastifyCsrf from '@fastify/csrf-protection';
import fastifyFormbody from '@fastify/formbody';
import fastifyHelmet from '@fastify/helmet';
import fastifyRateLimit from '@fastify/rate-limit';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { ValidationError, isUuid } from '../../protocol/validation.js';
import type { Logger } from '../../protocol/log.js';
import { LoginLimits, limitMessage, retryAfterSeconds } from '../login-limits.js';
import type { DeviceAuthorizations } from '../device-flow.js';
import { registerDevicePages } from './device-page.js';
import { mayCancel, mayRunAgain, maySee, ownerScope } from './access.js';
import { ansiStylesheet } from './ansi-palette.js';
import {
  renderAround,
  renderBefore,
  renderRange,
  WINDOW_BYTES,
  wireLines,
  type ConsoleSource,
  type RenderedRange,
} from './console-window.js';
import type { JobDetail, WebData, WebUser } from './data.js';
import type { SafeHtml } from './html.js';
import { streamJob } from './live.js';
import { parseListQuery } from './query.js';
import { Redactor } from './redact.js';
import { MAX_QUERY_LENGTH, searchConsole } from './search.js';
import type { ConsoleWindow } from './wire.js';
import { jobPage, searchPage } from './views/job.js';
import { jobsPage } from './views/jobs.js';
import { errorPage, type Assets, type PageFrame } from './views/layout.js';
import { TOKEN_LIFETIMES, loginPage, supervisorPage, supervisorsPage, tokensPage } from './views/misc.js';

export interface WebConsoleOptions {
  data: WebData;
  log: Logger;
  /** How long a login lasts (default 7 days). */
  sessionLifetimeMs?: number;
  /** Login attempts allowed per client address per minute (default 10). */
  loginAttemptsPerMinute?: number;
  /** Failed-login limits, shared with the REST login (default: a set of its own). */
  loginLimits?: LoginLimits;
  /** Pending device logins to approve on /device (no such page without). */
  devices?: DeviceAuthorizations;
  /** SSE keep-alive and session re-check interval (default 20 s). */
  heartbeatMs?: number;
  /** Where the bundled script and stylesheet are (default: static/ next to this file). */
  staticDir?: string;
  /** Jobs per list page (default 50). */
  pageSize?: number;
}

export const SESSION_COOKIE = 'tml_session';
const DEFAULT_SESSION_MS = 7 * 86_400_000;

interface WebSession {
  user: WebUser;
  hash: Buffer;
}

declare module 'fastify' {
  interface FastifyRequest {
    webSession: WebSession | null;
  }
}

class PageError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
  }
}

// The CSRF library needs a non-empty user string; visitors who are not logged in share one.
const csrfUser = (req: FastifyRequest): string => req.webSession?.hash.toString('hex') ?? 'anonymous';

export const sessionHash = (token: string): Buffer => createHash('sha256').update(token, 'utf8').digest();

/** A same-site path to go to after login; anything else (other hosts, `//x`, `/\x`) goes to /jobs. */
export function safeNext(next: unknown): string {
  return typeof next === 'string' && next.length < 2000 && /^\/(?![/\\])[\x21-\x7e]*$/.test(next) ? next : '/jobs';
}

function version(text: string | Buffer): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 12);
}

type Form = Record<string, unknown>;
function formField(body: unknown, name: string, max = 1000): string {
  const v = (body as Form | undefined)?.[name];
  if (typeof v !== 'string') throw new PageError(400, `the form has no ${name}`);
  if (v.length > max) throw new PageError(400, `${name} is too long`);
  return v;
}

function offsetParam(q: Record<string, unknown>, name: string): number | undefined {
  const v = q[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || !/^\d{1,15}$/.test(v)) throw new PageError(400, `${name} must be a byte offset`);
  return Number(v);
}

const NOTICES: Record<string, string> = {
  canceled: 'The job is being canceled.',
  rerun: 'This is a new run of the job.',
};

export async function webConsole(app: FastifyInstance, opts: WebConsoleOptions): Promise<void> {
  const { data, log } = opts;
  const sessionMs = opts.sessionLifetimeMs ?? DEFAULT_SESSION_MS;
  const loginLimits = opts.loginLimits ?? new LoginLimits();
  const staticDir = opts.staticDir ?? fileURLToPath(new URL('./static/', import.meta.url));
  const ansiCss = ansiStylesheet();
  const assetVersion = (file: string) => {
    const path = `${staticDir}/${file}`;
    if (existsSync(path)) return version(readFileSync(path));
    log.warn(`web console: ${path} is missing (run npm run build); pages work without it`);
    return 'missing';
  };
  const assets: Assets = {
    style: assetVersion('style.css'),
    script: assetVersion('console.js'),
    ansi: version(ansiCss),
  };

  await app.register(fastifyCookie);
  await app.register(fastifyFormbody, { bodyLimit: 64 * 1024 });
  await app.register(fastifyHelmet, {
    global: true,
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'none'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'"],
        connectSrc: ["'self'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
        baseUri: ["'none'"],
      },
    },
    // Whether the console is reached over TLS is the deployment's business (its proxy sets HSTS).
    strictTransportSecurity: false,
  });
  await app.register(fastifyCsrf, {
    cookieKey: 'tml_csrf',
    cookieOpts: { path: '/', httpOnly: true, sameSite: 'strict', secure: 'auto' },
    // Tokens are bound to the session, so a token from before a login (or another user's) fails.
    getUserInfo: (req: FastifyRequest) => csrfUser(req),
    csrfOpts: { hmacKey: randomBytes(32).toString('hex') },
  });
  await app.register(fastifyRateLimit, { global: false });
  if (existsSync(staticDir)) {
    await app.register(fastifyStatic, {
      root: staticDir,
      prefix: '/static/',
      decorateReply: false,
      // Pages link assets with a content version, so they can be cached for good.
      maxAge: '365d',
      immutable: true,
    });
  }

  app.decorateRequest('webSession', null);
  app.addHook('onRequest', async (req) => {
    const token = req.cookies[SESSION_COOKIE];
    if (!token || token.length > 200) return;
    const hash = sessionHash(token);
    const s = await data.session(hash);
    if (s) req.webSession = { user: s.user, hash };
  });

  // One CSRF token per response: generating twice on a first visit would set two secrets.
  const csrfTokens = new WeakMap<FastifyReply, string>();
  const csrf = (req: FastifyRequest, reply: FastifyReply): string => {
    let t = csrfTokens.get(reply);
    if (t === undefined) {
      t = reply.generateCsrf({ userInfo: csrfUser(req) });
      csrfTokens.set(reply, t);
    }
    return t;
  };
  const frame = (req: FastifyRequest, reply: FastifyReply): PageFrame => ({
    title: '',
    user: req.webSession?.user ?? null,
    csrf: csrf(req, reply),
    assets,
  });
  const send = (reply: FastifyReply, page: SafeHtml, status = 200) =>
    reply.status(status).type('text/html; charset=utf-8').header('cache-control', 'no-store').send(page.value);

  const wantsJson = (req: FastifyRequest) => /\.json$|\/live$/.test(req.url.split('?')[0]!);

  /** The logged-in user; page requests without one are sent to the login form. */
  const userOf = (req: FastifyRequest): WebUser => {
    const user = req.webSession?.user;
    if (!user) throw new PageError(401, 'log in first');
    return user;
  };

  const visibleJob = async (req: FastifyRequest, id: string): Promise<JobDetail> => {
    const user = userOf(req);
    const job = isUuid(id) ? await data.job(id) : null;
    if (!job) throw new PageError(404, `job ${id.slice(0, 64)} not found`);
    if (!maySee(user, job)) throw new PageError(403, `job ${id} belongs to another user`);
    return job;
  };

  const consoleOf = (job: JobDetail): ConsoleSource => ({
    read: (offset, max) => data.readConsole(job.id, offset, max),
    times: (from, to) => data.consoleTimes(job.id, from, to),
    start: job.console.start,
    end: job.console.end,
  });
  const redactorOf = async (job: JobDetail) => new Redactor(await data.secretValues(job.id));

  /** The console window a job page or console.json request asks for. */
  const windowFor = (src: ConsoleSource, q: Record<string, unknown>): Promise<RenderedRange> => {
    const at = offsetParam(q, 'at');
    const before = offsetParam(q, 'before');
    const from = offsetParam(q, 'from');
    if (at !== undefined) return renderAround(src, at);
    if (before !== undefined) return renderBefore(src, before);
    if (from !== undefined) return renderRange(src, from, Infinity, WINDOW_BYTES);
    return renderBefore(src, src.end);
  };
  const atEnd = (src: ConsoleSource, r: RenderedRange) => r.endsUnfinished || r.next >= src.end;

  app.setErrorHandler(async (err: Error & { statusCode?: number }, req, reply) => {
    let status = err instanceof ValidationError ? 400 : (err.statusCode ?? 500);
    if (status < 400 || status > 599) status = 500;
    if (status >= 500) log.error(`${req.method} ${req.url.split('?')[0]} failed: ${err.stack ?? err.message}`);
    const message = status >= 500 ? 'internal error' : err.message;
    if (status === 401 && !wantsJson(req) && req.method === 'GET') {
      return reply.redirect(`/login?next=${encodeURIComponent(safeNext(req.url))}`, 303);
    }
    if (wantsJson(req) || reply.sent) {
      return reply.status(status).send({ error: { code: String(status), message } });
    }
    let f: PageFrame;
    try {
      f = frame(req, reply);
    } catch {
      f = { title: '', user: req.webSession?.user ?? null, csrf: null, assets };
    }
    return send(reply, errorPage(f, status, message), status);
  });

  // -- sessions --

  app.get('/', async (_req, reply) => reply.redirect('/jobs', 303));

  app.get<{ Querystring: { next?: string } }>('/login', async (req, reply) => {
    const next = safeNext(req.query.next);
    if (req.webSession) return reply.redirect(next, 303);
    return send(reply, loginPage(frame(req, reply), next, null));
  });

  app.post(
    '/login',
    {
      preHandler: app.csrfProtection,
      config: {
        rateLimit: {
          max: opts.loginAttemptsPerMinute ?? 10,
          timeWindow: 60_000,
          errorResponseBuilder: (_req, ctx) =>
            new PageError(429, `too many login attempts from this address; try again in ${ctx.after}`),
        },
      },
    },
    async (req, reply) => {
      const name = formField(req.body, 'user', 200);
      const password = formField(req.body, 'password', 1000);
      const next = safeNext((req.body as Form | undefined)?.next);
      const limit = loginLimits.check(name, req.ip);
      if (!limit.ok) {
        reply.header('retry-after', String(retryAfterSeconds(limit.retryAfterMs)));
        throw new PageError(429, limitMessage(limit));
      }
      const user = await data.checkPassword(name, password);
      if (!user) {
        log.info(`web console: failed login for user ${JSON.stringify(name.slice(0, 64))} from ${req.ip}`);
        loginLimits.failed(name, req.ip);
        return send(reply, loginPage(frame(req, reply), next, 'Wrong user name or password.', name), 401);
      }
      loginLimits.succeeded(name);
      const token = randomBytes(32).toString('base64url');
      await data.createSession(sessionHash(token), user.id, Date.now() + sessionMs);
      log.info(`web console: user ${user.name} logged in from ${req.ip}`);
      reply.setCookie(SESSION_COOKIE, token, {
        path: '/',
        httpOnly: true,
        sameSite: 'lax',
        secure: 'auto',
        maxAge: Math.floor(sessionMs / 1000),
      });
      return reply.redirect(next, 303);
    },
  );

  app.post('/logout', { preHandler: app.csrfProtection }, async (req, reply) => {
    if (req.webSession) await data.deleteSession(req.webSession.hash);
    reply.clearCookie(SESSION_COOKIE, { path: '/' });
    return reply.redirect('/login', 303);
  });

  // -- jobs --

  app.get('/jobs', async (req, reply) => {
    const user = userOf(req);
    let parsed;
    try {
      parsed = parseListQuery(req.query);
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      const form = parseListQuery({}).form;
      for (const [k, v] of Object.entries(req.query as Form))
        if (k in form && typeof v === 'string') (form as unknown as Form)[k] = v.slice(0, 200);
      return send(reply, jobsPage(frame(req, reply), user, form, null, err.message, true, Date.now()), 400);
    }
    const result = await data.listJobs({
      filter: parsed.filter,
      ownerId: ownerScope(user),
      cursor: parsed.cursor,
      limit: opts.pageSize ?? 50,
    });
    return send(
      reply,
      jobsPage(frame(req, reply), user, parsed.form, result, null, parsed.cursor === null, Date.now()),
    );
  });

  app.get<{ Params: { id: string }; Querystring: Record<string, string> }>('/jobs/:id', async (req, reply) => {
    const user = userOf(req);
    const job = await visibleJob(req, req.params.id);
    const src = consoleOf(job);
    const redactor = await redactorOf(job);
    const range = await windowFor(src, req.query);
    const end = atEnd(src, range);
    const rerun = mayRunAgain(user, job);
    const done = req.query.done;
    return send(
      reply,
      jobPage(frame(req, reply), {
        job,
        events: await data.jobEvents(job.id, 0, 10_000),
        console: {
          lines: await wireLines(src, range, redactor, job.state !== 'terminated'),
          from: range.from,
          next: range.next,
          atEnd: end,
        },
        redactor,
        mayCancel: mayCancel(user, job),
        mayRunAgain: rerun,
        runAgainNote:
          !rerun && user.isAdmin ? 'Only its owner may run this job again: it has secret parameters.' : null,
        notice: typeof done === 'string' ? (NOTICES[done] ?? null) : null,
        now: Date.now(),
      }),
    );
  });

  app.post<{ Params: { id: string } }>('/jobs/:id/cancel', { preHandler: app.csrfProtection }, async (req, reply) => {
    const user = userOf(req);
    const job = await visibleJob(req, req.params.id);
    if (!mayCancel(user, job)) throw new PageError(409, `job ${job.id} has already ended`);
    const r = await data.cancelJob(job.id, user);
    if (!r.ok) throw new PageError(409, r.message);
    return reply.redirect(`/jobs/${job.id}?done=canceled`, 303);
  });

  app.post<{ Params: { id: string } }>('/jobs/:id/rerun', { preHandler: app.csrfProtection }, async (req, reply) => {
    const user = userOf(req);
    const job = await visibleJob(req, req.params.id);
    if (!mayRunAgain(user, job))
      throw new PageError(403, 'only its owner may run this job again: it has secret parameters');
    const r = await data.runAgain(job.id, user);
    if (!r.ok) throw new PageError(409, r.message);
    return reply.redirect(`/jobs/${r.jobId}?done=rerun`, 303);
  });

  app.get<{ Params: { id: string }; Querystring: Record<string, string> }>(
    '/jobs/:id/console.json',
    async (req): Promise<ConsoleWindow> => {
      const job = await visibleJob(req, req.params.id);
      const src = consoleOf(job);
      const range = await windowFor(src, req.query);
      return {
        lines: await wireLines(src, range, await redactorOf(job), job.state !== 'terminated'),
        from: range.from,
        next: range.next,
        logStart: src.start,
        logEnd: src.end,
      };
    },
  );

  const searchQuery = (q: unknown): string => {
    if (q === undefined) return '';
    if (typeof q !== 'string') throw new PageError(400, 'q must be given once');
    if (q.length > MAX_QUERY_LENGTH)
      throw new PageError(400, `the search is longer than ${MAX_QUERY_LENGTH} characters`);
    return q;
  };

  app.get<{ Params: { id: string }; Querystring: { q?: string } }>('/jobs/:id/search', async (req, reply) => {
    const job = await visibleJob(req, req.params.id);
    const q = searchQuery(req.query.q);
    const result = await searchConsole(consoleOf(job), q, await redactorOf(job));
    return send(reply, searchPage(frame(req, reply), job, result.query, result.hits, result.truncated));
  });

  app.get<{ Params: { id: string }; Querystring: { q?: string } }>('/jobs/:id/search.json', async (req) => {
    const job = await visibleJob(req, req.params.id);
    return searchConsole(consoleOf(job), searchQuery(req.query.q), await redactorOf(job));
  });

  app.get<{ Params: { id: string } }>('/jobs/:id/console.log', async (req, reply) => {
    const job = await visibleJob(req, req.params.id);
    const redactor = await redactorOf(job);
    const end = job.console.end;
    async function* bytes(): AsyncGenerator<Buffer> {
      const mask = redactor.streamer();
      let pos = job.console.start;
      while (pos < end) {
        const slice = await data.readConsole(job.id, pos, Math.min(256 * 1024, end - pos));
        if (slice.data.length === 0) break;
        pos = slice.offset + slice.data.length;
        const out = mask.push(slice.data);
        if (out.length) yield out;
      }
      const rest = mask.flush();
      if (rest.length) yield rest;
    }
    return reply
      .type('text/plain; charset=utf-8')
      .header('content-disposition', `attachment; filename="job-${job.id}.log"`)
      .header('cache-control', 'no-store')
      .send(Readable.from(bytes(), { objectMode: false }));
  });

  app.get<{ Params: { id: string }; Querystring: { from?: string; seq?: string } }>(
    '/jobs/:id/live',
    async (req, reply) => {
      const job = await visibleJob(req, req.params.id);
      const lastId = req.headers['last-event-id'];
      const q = { from: typeof lastId === 'string' && lastId !== '' ? lastId : req.query.from };
      const from = offsetParam(q, 'from') ?? job.console.end;
      const seq = offsetParam({ seq: req.query.seq }, 'seq') ?? 0;
      const session = req.webSession!;
      const redactor = await redactorOf(job);
      reply.hijack();
      reply.raw.writeHead(200, {
        ...(reply.getHeaders() as Record<string, string>),
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        'x-accel-buffering': 'no',
      });
      await streamJob(reply.raw, {
        data,
        job,
        from,
        afterSeq: seq,
        redactor,
        heartbeatMs: opts.heartbeatMs ?? 20_000,
        stillAllowed: async () => (await data.session(session.hash)) !== null,
      });
    },
  );

  // -- supervisors --

  app.get('/supervisors', async (req, reply) => {
    userOf(req);
    return send(reply, supervisorsPage(frame(req, reply), await data.supervisors()));
  });

  app.get<{ Params: { id: string } }>('/supervisors/:id', async (req, reply) => {
    const user = userOf(req);
    const s = isUuid(req.params.id) ? await data.supervisor(req.params.id) : null;
    if (!s) throw new PageError(404, `supervisor ${req.params.id.slice(0, 64)} not found`);
    const recent = await data.listJobs({
      filter: { supervisor: s.id },
      ownerId: ownerScope(user),
      cursor: null,
      limit: 20,
    });
    return send(reply, supervisorPage(frame(req, reply), s, recent.jobs, Date.now()));
  });

  // -- API tokens --

  app.get('/tokens', async (req, reply) => {
    const user = userOf(req);
    return send(reply, tokensPage(frame(req, reply), await data.apiTokens(user.id), null, null));
  });

  app.post('/tokens', { preHandler: app.csrfProtection }, async (req, reply) => {
    const user = userOf(req);
    const choice = formField(req.body, 'expires', 20);
    const lifetime = TOKEN_LIFETIMES.find(([v]) => v === choice);
    if (!lifetime) throw new PageError(400, `expires must be one of ${TOKEN_LIFETIMES.map(([v]) => v).join(', ')}`);
    const created = await data.createApiToken(user.id, lifetime[2] === null ? null : Date.now() + lifetime[2]);
    log.info(`web console: user ${user.name} created an API token`);
    return send(reply, tokensPage(frame(req, reply), await data.apiTokens(user.id), created, null));
  });

  app.post<{ Params: { id: string } }>('/tokens/:id/revoke', { preHandler: app.csrfProtection }, async (req, reply) => {
    const user = userOf(req);
    if (!(await data.revokeApiToken(user.id, req.params.id))) throw new PageError(404, 'no such token of yours');
    log.info(`web console: user ${user.name} revoked an API token`);
    return send(reply, tokensPage(frame(req, reply), await data.apiTokens(user.id), null, 'The token is revoked.'));
  });

  if (opts.devices)
    registerDevicePages(app, { devices: opts.devices, codeLimits: new LoginLimits(), log, userOf, frame, send });

  // Browsers ask for it on every page; without this the API's 401 answers it.
  app.get('/favicon.ico', async (_req, reply) =>
    reply.status(204).header('cache-control', 'public, max-age=86400').send(),
  );

  app.get('/static/ansi.css', async (_req, reply) =>
    reply.type('text/css; charset=utf-8').header('cache-control', 'public, max-age=31536000, immutable').send(ansiCss),
  );

  app.addHook('onClose', async () => data.close());
}
