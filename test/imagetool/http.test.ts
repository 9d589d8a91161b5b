import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { bodyFraming, headEnd, parseResponseHead, type ResponseHead } from '../../imagetool/http-framing.js';
import { get, httpClient, TransientError, type HttpResponse } from '../../imagetool/http.js';

/** Runs the wire bytes through head parsing and body framing, cut into reads at `cuts`; the body, or a string. */
function decode(wire: Uint8Array, cuts: number[]): { head: ResponseHead; body: Buffer; done: boolean } | string {
  const end = headEnd(wire);
  if (end === -1) return 'no head';
  const head = parseResponseHead(wire.subarray(0, end));
  if (typeof head === 'string') return head;
  const framing = bodyFraming(head);
  if (typeof framing === 'string') return framing;
  const parts: Buffer[] = [];
  const points = [...new Set([end, ...cuts.filter((c) => c > end && c < wire.length), wire.length])].sort(
    (a, b) => a - b,
  );
  for (let i = 0; i + 1 < points.length && !framing.done; i++) {
    const read = wire.subarray(points[i], points[i + 1]);
    for (let at = 0; at < read.length && !framing.done;) {
      const step = framing.step(read, at);
      if (typeof step === 'string') return step;
      parts.push(Buffer.from(read.subarray(step.start, step.end)));
      at = step.next;
    }
  }
  return { head, body: Buffer.concat(parts), done: framing.done };
}

const chunked = (pieces: Uint8Array[]): Buffer =>
  Buffer.concat([
    Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'),
    ...pieces
      .filter((p) => p.length > 0)
      .flatMap((p) => [Buffer.from(`${p.length.toString(16)};x=y\r\n`), p, Buffer.from('\r\n')]),
    Buffer.from('0\r\nx-trailer: 1\r\n\r\n'),
  ]);

test('a chunked body cut into reads anywhere decodes to its bytes, and ends', (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 8 }),
      fc.array(fc.nat(3000), { maxLength: 20 }),
      (pieces, cuts) => {
        const r = decode(chunked(pieces), cuts);
        if (typeof r === 'string') return false;
        return r.done && r.body.equals(Buffer.concat(pieces));
      },
    ),
  );
  t.pass();
});

test('a Content-Length body cut into reads anywhere decodes to exactly that many bytes', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 2000 }), fc.array(fc.nat(2100), { maxLength: 10 }), (body, cuts) => {
      const wire = Buffer.concat([
        Buffer.from(`HTTP/1.0 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`),
        body,
        Buffer.from('next'),
      ]);
      const r = decode(wire, cuts);
      return typeof r !== 'string' && r.done && r.body.equals(body);
    }),
  );
  t.pass();
});

test('any bytes as a response give a head and framing, or a reason, never an exception', (t) => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.uint8Array({ maxLength: 200 }),
        fc
          .array(
            fc.constantFrom(
              'HTTP/1.1 200 OK',
              'HTTP/1.0 206',
              'HTTP/2 200',
              'Content-Length: 5',
              'content-length: 7',
              'Content-Length: -1',
              'Transfer-Encoding: chunked',
              'Transfer-Encoding: gzip',
              ' folded',
              'no colon',
              '',
              '5',
              'zz',
              'hello',
            ),
            { maxLength: 8 },
          )
          .map((lines) => Buffer.from(`${lines.join('\r\n')}\r\n\r\n`)),
      ),
      fc.array(fc.nat(300), { maxLength: 5 }),
      (wire, cuts) => {
        const r = decode(wire, cuts);
        return typeof r === 'string' ? r.length > 0 : r.head.status >= 100 && r.head.status <= 999;
      },
    ),
  );
  const head = parseResponseHead(Buffer.from('HTTP/1.1 200 OK\r\nX-A: 1\r\nx-a: 2\r\nETag:  "e" \r\n\r\n'));
  t.deepEqual(head, { status: 200, minor: 1, headers: { 'x-a': ['1', '2'], etag: '"e"' } });
  t.is(bodyFraming({ status: 200, minor: 1, headers: { 'content-length': ['3', '4'] } }), 'a malformed Content-Length');
});

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** A loopback server; counts the connections it accepted. */
async function server(t: ExecutionContext, handler: Handler) {
  const s = createServer(handler);
  let connections = 0;
  s.on('connection', () => connections++);
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    s.closeAllConnections();
    return new Promise<void>((resolve) => s.close(() => resolve()));
  });
  return { url: new URL(`http://127.0.0.1:${(s.address() as AddressInfo).port}/`), s, connections: () => connections };
}

async function text(res: HttpResponse): Promise<string> {
  const parts: Buffer[] = [];
  await res.read((chunk) => void parts.push(Buffer.from(chunk)));
  return Buffer.concat(parts).toString();
}

test('GET follows redirects, sends Range, reads chunked bodies and reuses its kept-alive connection', async (t) => {
  const seen: string[] = [];
  const srv = await server(t, (req, res) => {
    seen.push(`${req.url} ${req.headers.range ?? '-'}`);
    if (req.url === '/old') res.writeHead(302, { location: '/new' }).end('moved');
    else {
      res.writeHead(206);
      res.write('part one, ');
      setTimeout(() => res.end('part two'), 20);
    }
  });
  const client = httpClient();
  t.teardown(() => client.close());
  const res = await get(client, new URL('old', srv.url), { start: 5 });
  t.is(res.statusCode, 206);
  t.is(res.headers['transfer-encoding'], 'chunked');
  t.is(await text(res), 'part one, part two');
  t.is(await text(await get(client, new URL('again', srv.url))), 'part one, part two');
  t.deepEqual(seen, ['/old bytes=5-', '/new bytes=5-', '/again -']);
  t.is(srv.connections(), 1);
});

test('a kept-alive connection the server closed meanwhile is replaced without a failure', async (t) => {
  // The server drops each connection 50 ms after its answer, as one does whose keep-alive time ran out.
  const srv = await server(t, (req, res) => void res.end('ok', () => setTimeout(() => req.socket.destroy(), 50)));
  const client = httpClient();
  t.teardown(() => client.close());
  t.is(await text(await get(client, srv.url)), 'ok');
  await new Promise((resolve) => setTimeout(resolve, 200));
  t.is(await text(await get(client, srv.url)), 'ok');
  t.is(srv.connections(), 2);
});

test('a body that waits on its reader is read on once the reader is done, byte for byte', async (t) => {
  const body = Buffer.alloc(3 << 20);
  for (let i = 0; i < body.length; i++) body[i] = (i * 7) % 251;
  const srv = await server(t, (_req, res) => void res.end(body));
  const client = httpClient();
  t.teardown(() => client.close());
  const res = await get(client, srv.url);
  const got: Buffer[] = [];
  let n = 0;
  await res.read((chunk) => {
    got.push(Buffer.from(chunk));
    // Every third piece makes the connection wait, as a full slot makes a download wait for a write.
    return ++n % 3 === 0 ? new Promise((resolve) => setTimeout(resolve, 2)) : undefined;
  });
  t.true(Buffer.concat(got).equals(body));
});

test('a connection cut before the end of the body fails as transient, after the reader finished its piece', async (t) => {
  const srv = await server(t, (_req, res) => {
    res.writeHead(200, { 'content-length': 1000 });
    res.write('x'.repeat(100), () => res.destroy());
  });
  const client = httpClient();
  t.teardown(() => client.close());
  const res = await get(client, srv.url);
  let done = false;
  const err = await t.throwsAsync(
    res.read(() =>
      new Promise<void>((resolve) => setTimeout(resolve, 50)).then(() => {
        done = true;
      }),
    ),
  );
  t.true(err instanceof TransientError, String(err));
  t.true(done, 'the failure waited for the reader');
});

test('a refused connection is a transient failure saying so', async (t) => {
  const client = httpClient();
  t.teardown(() => client.close());
  const err = await t.throwsAsync(get(client, new URL('http://127.0.0.1:9/')));
  t.true(err instanceof TransientError);
  t.is(err.message, 'connection refused');
});

test('a request the server drops unanswered on a kept-alive connection is sent again on a new one', async (t) => {
  // A raw server: the first connection answers once, then closes on the next request, unanswered.
  let accepted = 0;
  const raw = createNetServer((socket) => {
    const nth = ++accepted;
    let requests = 0;
    socket.on('data', () => {
      if (nth === 1 && ++requests > 1) socket.destroy();
      else socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
    });
  });
  await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => raw.close(() => resolve())));
  const url = new URL(`http://127.0.0.1:${(raw.address() as AddressInfo).port}/`);
  const client = httpClient();
  t.teardown(() => client.close());
  t.is(await text(await get(client, url)), 'ok');
  t.is(await text(await get(client, url)), 'ok');
  t.is(accepted, 2);
});

test('a plain body is read into the memory the reader offers, and handed over there, uncopied', async (t) => {
  const body = randomBytes(2 << 20);
  const srv = await server(t, (_req, res) => void res.end(body));
  const client = httpClient();
  t.teardown(() => client.close());
  const res = await get(client, srv.url);
  const memory = new Uint8Array(body.length);
  let filled = 0;
  let inPlace = 0;
  await res.read(
    (chunk) => {
      if (chunk.buffer === memory.buffer && chunk.byteOffset === filled) inPlace += chunk.length;
      else memory.set(chunk, filled);
      filled += chunk.length;
    },
    () => memory.subarray(filled),
  );
  t.true(Buffer.from(memory).equals(body));
  t.true(inPlace > body.length / 2, `${inPlace} bytes in place`);
});

test('a body whose last piece the reader waits on ends with it, and its connection carries the next request', async (t) => {
  const srv = await server(t, (_req, res) => void res.end('x'.repeat(5000)));
  const client = httpClient();
  t.teardown(() => client.close());
  for (let i = 0; i < 2; i++) {
    const res = await get(client, srv.url);
    let got = 0;
    await res.read((chunk) => {
      got += chunk.length;
      return new Promise((resolve) => setTimeout(resolve, 5));
    });
    t.is(got, 5000);
  }
  t.is(srv.connections(), 1);
});
