import test from 'ava';
import Fastify from 'fastify';
import { rmSync } from 'node:fs';
import { request } from 'node:http';
import { healthRoutes } from '../../switchboard/health.js';
import { createLogger, silentLogger } from '../../protocol/log.js';
import { startHarness } from './harness.js';

function get(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    request(url, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    })
      .on('error', reject)
      .end();
  });
}

test('healthz and readyz answer ok without a token on a running switchboard', async (t) => {
  const h = await startHarness();
  t.teardown(() => h.close());
  for (const path of ['/healthz', '/readyz']) {
    const r = await get(`${h.url}${path}`);
    t.is(r.status, 200, path);
    t.deepEqual(JSON.parse(r.body), { status: 'ok' }, path);
  }
});

test('readyz answers 503 while the database does not answer, and healthz still 200', async (t) => {
  const lines: string[] = [];
  let broken = true;
  const app = Fastify();
  await app.register(healthRoutes, {
    checkDatabase: () => {
      if (broken) throw new Error('SQLITE_IOERR: disk I/O error at /secret/path');
    },
    log: createLogger({ level: 'debug', write: (l) => lines.push(l) }),
  });
  t.teardown(() => app.close());
  const ready = await app.inject({ method: 'GET', url: '/readyz' });
  t.is(ready.statusCode, 503);
  t.deepEqual(ready.json(), { status: 'unavailable', reason: 'the database does not answer' });
  t.false(ready.body.includes('/secret/path'));
  t.true(lines.some((l) => l.includes('SQLITE_IOERR')));
  t.is((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
  broken = false;
  t.is((await app.inject({ method: 'GET', url: '/readyz' })).statusCode, 200);
});

test('readyz waits for an asynchronous database check and fails when it rejects', async (t) => {
  const app = Fastify();
  await app.register(healthRoutes, {
    checkDatabase: () => Promise.reject(new Error('connection refused')),
    log: silentLogger,
  });
  t.teardown(() => app.close());
  t.is((await app.inject({ method: 'GET', url: '/readyz' })).statusCode, 503);
});

test('the real readyz fails once the database connection is gone', async (t) => {
  const h = await startHarness({}, false);
  t.teardown(async () => {
    await h.close().catch(() => {});
    rmSync(h.dir, { recursive: true, force: true });
  });
  t.is((await h.sb.app.inject({ method: 'GET', url: '/readyz' })).statusCode, 200);
  await h.sb.db.kysely.destroy();
  t.is((await h.sb.app.inject({ method: 'GET', url: '/readyz' })).statusCode, 503);
  t.is((await h.sb.app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
});
