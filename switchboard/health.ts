// Health checks for load balancers and systemd: `/healthz` says the process answers, `/readyz`
// that its database does too. Neither needs a token, and neither says more than ok or why not.

import type { FastifyInstance } from 'fastify';
import type { Logger } from '../protocol/log.js';

export interface HealthOptions {
  /** Throws (or rejects) when the database does not answer a trivial query. */
  checkDatabase: () => unknown;
  log: Logger;
}

export interface HealthAnswer {
  status: 'ok' | 'unavailable';
  /** Why it is not ready; absent when ok. */
  reason?: string;
}

export async function healthRoutes(app: FastifyInstance, opts: HealthOptions): Promise<void> {
  const noStore = { 'cache-control': 'no-store' };
  app.get('/healthz', async (_req, reply): Promise<HealthAnswer> => {
    reply.headers(noStore);
    return { status: 'ok' };
  });
  app.get('/readyz', async (_req, reply): Promise<HealthAnswer> => {
    reply.headers(noStore);
    try {
      await opts.checkDatabase();
      return { status: 'ok' };
    } catch (err) {
      // The cause goes to the log only: a prober needs the verdict, and the message may name paths.
      opts.log.warn(`readyz: the database does not answer: ${(err as Error).message}`);
      reply.status(503);
      return { status: 'unavailable', reason: 'the database does not answer' };
    }
  });
}
