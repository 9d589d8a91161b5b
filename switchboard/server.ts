// Assembles a switchboard: store (SQLite or PostgreSQL), job store, scheduler, REST routes and the
// supervisor hub.

import Fastify, { type FastifyInstance } from 'fastify';
import type { AddressInfo } from 'node:net';
import type { ChangeFeed } from './change-feed.js';
import { openFeed, openStore } from './open-store.js';
import type { DbStore } from './db-store.js';
import { systemClock, type Clock } from './deadlines.js';
import { DEFAULT_LOG_KEEP_BYTES, JobStore } from './jobs.js';
import { DEFAULT_KEEPALIVE } from '../protocol/switchboard-ws.js';
import type { Logger } from '../protocol/log.js';
import { DEFAULT_DEVICE_FLOW, DeviceAuthorizations, type DeviceFlowConfig } from './device-flow.js';
import { deviceRoutes } from './device-routes.js';
import { healthRoutes } from './health.js';
import { DEFAULT_LOGIN_LIMITS, LoginLimits, type LoginLimitConfig } from './login-limits.js';
import { InteractiveJobs } from './interactive.js';
import { RecentTokens } from './recent-tokens.js';
import { registerRoutes } from './routes.js';
import { Scheduler, type SchedulerConfig } from './scheduler.js';
import { SupervisorHub } from './supervisor-hub.js';
import { StoreWebData, webConsole, type WebConsoleOptions } from './web/index.js';

export interface SwitchboardOptions extends Omit<SchedulerConfig, 'maxQueuedJobsPerUser' | 'maxQueuedBytesPerUser'> {
  maxQueuedJobsPerUser?: number;
  maxQueuedBytesPerUser?: number;
  /** A SQLite file, or a postgres:// URL. */
  db: string;
  log: Logger;
  /** How often supervisors are pinged. */
  pingIntervalMs?: number;
  /** A supervisor whose pongs stop for this long is dropped; it must exceed pingIntervalMs. */
  keepaliveMs?: number;
  loginTokenLifetimeMs?: number;
  /** Failed-login limits of the REST login and the web console's form together. */
  loginLimits?: Partial<LoginLimitConfig>;
  /** Device login (`tml login --device`); it needs the web console, where codes are approved. */
  deviceFlow?: Partial<DeviceFlowConfig>;
  logKeepBytes?: number;
  /** Largest request body accepted. */
  bodyLimitBytes?: number;
  /** The clock of timestamps and deadlines (the system's unless given). */
  clock?: Clock;
  /** The web console (on unless false). */
  web?: boolean | Partial<Omit<WebConsoleOptions, 'data' | 'log'>>;
}

export const DEFAULTS = {
  queueTimeoutMs: 3_600_000,
  jobTimeoutMs: 3_600_000,
  gracePeriodMs: 60_000,
  maxQueuedJobsPerUser: 1000,
  maxQueuedBytesPerUser: 64 * 1024 * 1024,
  pingIntervalMs: DEFAULT_KEEPALIVE.pingIntervalMs,
  keepaliveMs: DEFAULT_KEEPALIVE.keepaliveMs,
  loginTokenLifetimeMs: 7 * 86_400_000,
  bodyLimitBytes: 1024 * 1024,
} as const;

export class Switchboard {
  readonly app: FastifyInstance;
  readonly db: DbStore;
  readonly jobs: JobStore;
  readonly scheduler: Scheduler;
  private readonly hub: SupervisorHub;
  private readonly interactive: InteractiveJobs;
  private readonly tokens: RecentTokens;

  /** Opens the database (migrating it), then assembles the switchboard and resumes its jobs. */
  static async open(opts: SwitchboardOptions): Promise<Switchboard> {
    const warn = (m: string) => opts.log.warn(m);
    const db = await openStore(opts.db, { backgroundCheckpointMs: 1000, onWarning: warn });
    let feed: ChangeFeed | null = null;
    try {
      feed = await openFeed(opts.db, db, warn);
      const sb = new Switchboard(opts, db, feed);
      await sb.scheduler.start();
      return sb;
    } catch (err) {
      await feed?.close();
      await db.close();
      throw err;
    }
  }

  private constructor(
    readonly opts: SwitchboardOptions,
    db: DbStore,
    private readonly feed: ChangeFeed | null,
  ) {
    const keepalive = {
      pingIntervalMs: opts.pingIntervalMs ?? DEFAULTS.pingIntervalMs,
      keepaliveMs: opts.keepaliveMs ?? DEFAULTS.keepaliveMs,
    };
    if (!(keepalive.pingIntervalMs > 0 && keepalive.keepaliveMs > keepalive.pingIntervalMs)) {
      throw new Error('the keepalive must be longer than the ping interval, and both positive');
    }
    this.db = db;
    const clock = opts.clock ?? systemClock;
    this.jobs = new JobStore(this.db, opts.logKeepBytes ?? DEFAULT_LOG_KEEP_BYTES, () => clock.now(), feed);
    this.tokens = new RecentTokens(
      (hash) => db.tokenByHash(hash),
      () => clock.now(),
    );
    this.scheduler = new Scheduler(
      this.db,
      this.jobs,
      {
        ...opts,
        maxQueuedJobsPerUser: opts.maxQueuedJobsPerUser ?? DEFAULTS.maxQueuedJobsPerUser,
        maxQueuedBytesPerUser: opts.maxQueuedBytesPerUser ?? DEFAULTS.maxQueuedBytesPerUser,
      },
      opts.log,
      clock,
      feed,
    );
    const scheduler = this.scheduler;
    this.interactive = new InteractiveJobs(
      this.jobs,
      opts.log,
      feed && {
        heldElsewhere: (supervisorId) => scheduler.heldElsewhere(supervisorId),
        forward: (jobId, bytes) => scheduler.forwardConsoleInput(jobId, bytes),
      },
    );
    scheduler.onConsoleInput = (jobId, bytes) => {
      this.interactive
        .forwarded(jobId, bytes)
        .catch((err: unknown) => opts.log.warn(`job ${jobId}: console input not delivered: ${(err as Error).message}`));
    };
    this.app = Fastify({
      logger: false,
      bodyLimit: opts.bodyLimitBytes ?? DEFAULTS.bodyLimitBytes,
      forceCloseConnections: true,
    });
    this.app.addHook('onResponse', async (req, reply) => {
      opts.log.debug(`${req.method} ${req.url.split('?')[0]} ${reply.statusCode} ${reply.elapsedTime.toFixed(1)} ms`);
    });
    const loginLimits = new LoginLimits({ ...DEFAULT_LOGIN_LIMITS, ...opts.loginLimits });
    // Encapsulated, so the API's bearer-token hook and error answers stay off the web console.
    this.app.register(async (api) => {
      registerRoutes(api, {
        db: this.db,
        jobs: this.jobs,
        scheduler: this.scheduler,
        log: opts.log,
        loginTokenLifetimeMs: opts.loginTokenLifetimeMs ?? DEFAULTS.loginTokenLifetimeMs,
        loginLimits,
        interactive: this.interactive,
        tokens: this.tokens,
      });
    });
    this.app.register(healthRoutes, { checkDatabase: () => this.db.ping(), log: opts.log });
    if (opts.web !== false) {
      const data = new StoreWebData({
        db: this.db,
        jobs: this.jobs,
        scheduler: this.scheduler,
        log: opts.log,
        tokens: this.tokens,
      });
      const devices = new DeviceAuthorizations({ ...DEFAULT_DEVICE_FLOW, ...opts.deviceFlow });
      const tokenMs = opts.loginTokenLifetimeMs ?? DEFAULTS.loginTokenLifetimeMs;
      const issueToken = async (userId: string) => {
        const expiresAt = Date.now() + tokenMs;
        return { token: (await data.createApiToken(userId, expiresAt)).token, expiresAt };
      };
      this.app.register(deviceRoutes, { devices, issueToken, log: opts.log });
      this.app.register(webConsole, {
        ...(opts.web === true ? {} : opts.web),
        data,
        log: opts.log,
        loginLimits,
        devices,
      });
    }
    this.hub = new SupervisorHub(this.app.server, this.db, this.scheduler, opts.log, {
      keepalive,
      interactive: this.interactive,
    });
  }

  /** Listens on host:port (port 0 picks a free one) and returns the base URL. */
  async listen(host: string, port: number): Promise<string> {
    await this.app.listen({ host, port });
    const addr = this.app.server.address() as AddressInfo;
    const h = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
    return `http://${h}:${addr.port}`;
  }

  async close(): Promise<void> {
    this.scheduler.stop();
    this.hub.close();
    await this.app.close();
    await this.feed?.close();
    await this.db.close();
  }
}
