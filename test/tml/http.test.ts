import test from 'ava';
import http from 'node:http';
import net, { type AddressInfo, type Socket } from 'node:net';
import { AnswerTooLargeError, HttpTimeoutError, httpRequest, readBody, Agents } from '../../tml/http.js';

const LIMITS = { connectTimeoutMs: 1000, headersTimeoutMs: 1000, bodyTimeoutMs: 1000 };

/** Runs `fn` against a server on 127.0.0.1 (on `port` when given), then closes it and its sockets. */
async function withServer(server: net.Server, fn: (url: string) => Promise<void>, port = 0): Promise<void> {
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => sockets.add(s));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  try {
    await fn(`127.0.0.1:${(server.address() as AddressInfo).port}`);
  } finally {
    sockets.forEach((s) => s.destroy());
    await new Promise((resolve) => server.close(resolve));
  }
}

const get = (url: string, limits = LIMITS, signal?: AbortSignal) =>
  httpRequest(new URL(url), new Agents(), { method: 'GET', headers: {}, ...limits, ...(signal && { signal }) });

test('an answer is read whole, with its status and headers', (t) =>
  withServer(
    http.createServer((_req, res) => res.writeHead(201, { 'x-log-offset': '7' }).end('hello')),
    async (addr) => {
      const res = await get(`http://${addr}/`);
      t.is(res.status, 201);
      t.is(res.headers['x-log-offset'], '7');
      t.is((await readBody(res.body, 100)).toString(), 'hello');
    },
  ));

test('a body is sent with its length', (t) =>
  withServer(
    http.createServer((req, res) => {
      void readBody(req, 1000).then((b) => res.end(`${req.headers['content-length']} ${b.toString()}`));
    }),
    async (addr) => {
      const res = await httpRequest(new URL(`http://${addr}/`), new Agents(), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"é":1}',
        ...LIMITS,
      });
      t.is((await readBody(res.body, 100)).toString(), '8 {"é":1}');
    },
  ));

test('a port the Fetch standard calls bad (6665-6669) is an ordinary port', async (t) => {
  for (const port of [6665, 6666, 6667, 6668, 6669]) {
    try {
      await withServer(
        http.createServer((_req, res) => res.end('ok')),
        async (addr) => {
          t.is((await readBody((await get(`http://${addr}/`)).body, 10)).toString(), 'ok');
        },
        port,
      );
      return;
    } catch (err) {
      if ((err as { code?: string }).code !== 'EADDRINUSE') throw err;
    }
  }
  t.fail('every port from 6665 to 6669 is in use here');
});

test('calls of one client share a kept-alive connection', async (t) => {
  let connections = 0;
  const server = http.createServer((_req, res) => res.end('ok'));
  server.on('connection', () => connections++);
  await withServer(server, async (addr) => {
    const agents = new Agents();
    for (let i = 0; i < 3; i++) {
      const res = await httpRequest(new URL(`http://${addr}/`), agents, { method: 'GET', headers: {}, ...LIMITS });
      await readBody(res.body, 10);
    }
    t.is(connections, 1);
  });
});

test('a server that accepts and never answers is a headers time-out', (t) =>
  withServer(
    net.createServer(() => {}),
    async (addr) => {
      const err = await t.throwsAsync(get(`http://${addr}/`, { ...LIMITS, headersTimeoutMs: 100 }));
      t.true(err instanceof HttpTimeoutError);
      t.is((err as HttpTimeoutError).code, 'HEADERS_TIMEOUT');
    },
  ));

test('a TLS handshake that never ends is a connect time-out', (t) =>
  withServer(
    net.createServer(() => {}),
    async (addr) => {
      const err = await t.throwsAsync(get(`https://${addr}/`, { ...LIMITS, connectTimeoutMs: 100 }));
      t.is((err as HttpTimeoutError).code, 'CONNECT_TIMEOUT');
    },
  ));

test('a body that stops is a body time-out', (t) =>
  withServer(
    http.createServer((_req, res) => {
      res.writeHead(200);
      res.write('part');
    }),
    async (addr) => {
      const res = await get(`http://${addr}/`, { ...LIMITS, bodyTimeoutMs: 100 });
      const err = await t.throwsAsync(readBody(res.body, 100));
      t.is((err as HttpTimeoutError).code, 'BODY_TIMEOUT');
    },
  ));

test('a body time-out of 0 lets a body be quiet longer than the headers time-out', (t) =>
  withServer(
    http.createServer((_req, res) => {
      res.writeHead(200);
      res.write('one ');
      setTimeout(() => res.end('two'), 1500);
    }),
    async (addr) => {
      const res = await get(`http://${addr}/`, { ...LIMITS, headersTimeoutMs: 500, bodyTimeoutMs: 0 });
      t.is((await readBody(res.body, 100)).toString(), 'one two');
    },
  ));

test('a body longer than its cap is refused', (t) =>
  withServer(
    http.createServer((_req, res) => res.end(Buffer.alloc(2048, 'a'))),
    async (addr) => {
      const res = await get(`http://${addr}/`);
      const err = await t.throwsAsync(readBody(res.body, 1024));
      t.true(err instanceof AnswerTooLargeError);
      t.is((err as AnswerTooLargeError).maxBytes, 1024);
    },
  ));

test('a body that breaks off before it is read rejects its reader and does not crash', (t) =>
  withServer(
    http.createServer((_req, res) => {
      res.writeHead(200, { 'content-length': '100' });
      res.write('short', () => res.socket?.destroy());
    }),
    async (addr) => {
      const res = await get(`http://${addr}/`);
      await new Promise((resolve) => setTimeout(resolve, 100));
      await t.throwsAsync(readBody(res.body, 1000), { code: 'ECONNRESET' });
    },
  ));

test('an aborted signal ends a request waiting for its answer', (t) =>
  withServer(
    net.createServer(() => {}),
    async (addr) => {
      const ac = new AbortController();
      setTimeout(() => ac.abort(), 50);
      await t.throwsAsync(get(`http://${addr}/`, LIMITS, ac.signal), { name: 'AbortError' });
    },
  ));
