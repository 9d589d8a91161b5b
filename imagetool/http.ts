import { connect, isIP, type Socket } from 'node:net';
import {
  bodyFraming,
  headEnd,
  keepsAlive,
  MAX_HEAD_BYTES,
  parseResponseHead,
  type BodyFraming,
  type Headers,
} from './http-framing.js';
export { mirrorFileUrl, parseMirrorUrl } from './mirror-url.js';

/**
 * HTTP for pulling from mirrors: plain static file servers (`python3 -m http.server`, nginx, a CDN), so
 * only GET, Range and redirects. Headers are untrusted input, parsed here once.
 */

/** `bytes START-END/TOTAL` (TOTAL may be `*`), or `bytes * /TOTAL` for an unsatisfiable range. */
export type ContentRange = { start: number; end: number; total: number | null } | { unsatisfied: true; total: number };

const RANGE_RE = /^bytes (\d{1,16})-(\d{1,16})\/(\d{1,16}|\*)$/;
const UNSATISFIED_RE = /^bytes \*\/(\d{1,16})$/;

function safeInt(text: string): number | null {
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : null;
}

/** Parses a Content-Range header value (RFC 9110 14.4); anything malformed is null. */
export function parseContentRange(value: string | undefined): ContentRange | null {
  if (value === undefined) return null;
  const v = value.trim();
  const unsatisfied = UNSATISFIED_RE.exec(v);
  if (unsatisfied) {
    const total = safeInt(unsatisfied[1]!);
    return total === null ? null : { unsatisfied: true, total };
  }
  const m = RANGE_RE.exec(v);
  if (!m) return null;
  const start = safeInt(m[1]!);
  const end = safeInt(m[2]!);
  const total = m[3] === '*' ? null : safeInt(m[3]!);
  if (start === null || end === null || end < start) return null;
  if (m[3] !== '*' && (total === null || end >= total)) return null;
  return { start, end, total };
}

/** Parses a Content-Length header value; null when absent or malformed. */
export function parseContentLength(value: string | undefined): number | null {
  if (value === undefined || !/^\d{1,16}$/.test(value.trim())) return null;
  return safeInt(value.trim());
}

/** One value of a header; a header sent twice (with different values) counts as malformed. */
export function headerValue(headers: Headers, name: string): string | undefined {
  const v = headers[name];
  if (Array.isArray(v)) return v.every((x) => x === v[0]) ? v[0] : '\u0000';
  return v;
}

/** A failure worth trying again (the connection broke, the server is overloaded), as opposed to a verdict. */
export class TransientError extends Error {}

/** Network error codes as a user reads them. */
export function describeNetworkError(err: unknown): string {
  const e = err as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException };
  const code = e.code ?? e.cause?.code;
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'host not found';
    case 'ECONNRESET':
    case 'EPIPE':
    case 'ERR_STREAM_PREMATURE_CLOSE':
      return 'the connection was closed';
    case 'ETIMEDOUT':
      return 'timed out';
    default:
      return (e.message || String(err)).split('\n')[0]!;
  }
}

const CONNECT_TIMEOUT_MS = 10_000;
/** Longest quiet time while waiting for an answer's headers, and between two parts of its body. */
const IDLE_TIMEOUT_MS = 30_000;
/** A kept-alive connection nobody used for this long is closed. */
const POOL_IDLE_MS = 4_000;
const MAX_REDIRECTS = 5;
/** Each connection reads into one buffer of this size, again and again: no garbage per read. */
const READ_SIZE = 256 << 10;
/** A reader's memory is read into only when it has at least this much room; else the connection's buffer is. */
const MIN_READ_INTO = 64 << 10;
/** Bodies up to this size (of errors and redirects) are read to keep their connection; longer ones cut it. */
const DISCARD_MAX = 64 << 10;

/** A body that stopped arriving, or a connection that never opened: worth a retry. */
class StalledError extends TransientError {}
/** A kept-alive connection the server had closed before our request reached it: the request is sent again. */
class StaleConnection extends TransientError {}

/** An answer whose head arrived; its body is the caller's to `read` or `discard`. */
export interface HttpResponse {
  statusCode: number;
  headers: Headers;
  /**
   * Hands the body to `onChunk` piece by piece; a piece is valid only during the call (it is the
   * connection's read buffer). While a promise `onChunk` returns is pending nothing more is read, and a
   * failure of the connection meanwhile is reported only once it settled. Resolves at the body's end;
   * rejects with what `onChunk` threw, or a TransientError for the network.
   *
   * With `into`, the socket may read straight into the memory it returns (for the next read; it must stay
   * the caller's until then): a piece that arrives there is handed to `onChunk` in place, uncopied.
   */
  read(onChunk: (chunk: Uint8Array) => Promise<void> | void, into?: () => Uint8Array): Promise<void>;
  /** Ends an answer whose body is not wanted: a short one is read to keep the connection, a longer one cut. */
  discard(): Promise<void>;
}

interface Waiter<T> {
  resolve: (value: T) => void;
  reject: (err: unknown) => void;
}

/** The body of an answer cut off by `discard`. */
const DISCARDED = new Error('discarded');

/**
 * One connection to a mirror (net or TLS), carrying one request at a time. It reads with `onread` into
 * its own buffer: node:http allocates a buffer per read, and a gigabyte of those cost 0.5 s of CPU and
 * 40 MiB of memory more than this (measured on loopback).
 */
class Connection {
  readonly socket: Socket;
  private readonly buffer = Buffer.allocUnsafe(READ_SIZE);
  private exchange: Exchange | undefined;
  /** requests this connection carried */
  uses = 0;
  dead = false;

  constructor(
    url: URL,
    secure: typeof import('node:tls') | undefined,
    private readonly onIdle: (c: Connection) => void,
    private readonly onClose: (c: Connection) => void,
  ) {
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    const port = Number(url.port) || (secure ? 443 : 80);
    const onread = {
      buffer: (): Uint8Array => this.exchange?.target() ?? this.buffer,
      callback: (n: number, into: Uint8Array): boolean => this.received(into.subarray(0, n)),
    };
    this.socket =
      secure !== undefined
        ? // node:tls takes `onread` as node:net does (its types do not say so).
          secure.connect({
            host,
            port,
            servername: isIP(host) ? undefined : host,
            ALPNProtocols: ['http/1.1'],
            ...({ onread } as object),
          })
        : connect({ host, port, onread });
    const connectTimer = setTimeout(
      () => this.socket.destroy(new StalledError('connecting timed out')),
      CONNECT_TIMEOUT_MS,
    );
    this.socket.once(secure ? 'secureConnect' : 'connect', () => clearTimeout(connectTimer));
    this.socket.setTimeout(IDLE_TIMEOUT_MS);
    this.socket.on('timeout', () =>
      this.socket.destroy(this.exchange ? new StalledError('the server stopped sending') : undefined),
    );
    this.socket.on('end', () => {
      this.dead = true;
      this.exchange?.ended();
    });
    this.socket.on('error', (err) => {
      this.dead = true;
      this.exchange?.failed(err);
    });
    this.socket.on('close', () => {
      clearTimeout(connectTimer);
      this.dead = true;
      this.exchange?.failed(new Error('the connection was closed'));
      this.onClose(this);
    });
  }

  private received(bytes: Uint8Array): boolean {
    if (this.exchange === undefined) {
      // Bytes nobody asked for: the connection cannot be trusted with another request.
      this.socket.destroy();
      return false;
    }
    return this.exchange.received(bytes);
  }

  /** Sends a GET; resolves at the answer's head. */
  request(url: URL, headers: Record<string, string>, signal: AbortSignal | undefined): Promise<HttpResponse> {
    this.uses++;
    this.socket.ref();
    this.socket.setTimeout(IDLE_TIMEOUT_MS);
    this.resume();
    const exchange = new Exchange(this, this.uses > 1, signal);
    this.exchange = exchange;
    let text = `GET ${url.pathname}${url.search} HTTP/1.1\r\nhost: ${url.host}\r\nuser-agent: tml-imagetool\r\n`;
    for (const [name, value] of Object.entries(headers)) text += `${name}: ${value}\r\n`;
    this.socket.write(`${text}\r\n`, 'latin1');
    return exchange.head;
  }

  /** @internal The exchange is over: the connection goes back to the pool, or is closed. */
  release(exchange: Exchange, reusable: boolean): void {
    if (this.exchange !== exchange) return;
    this.exchange = undefined;
    if (!reusable || this.dead) {
      this.socket.destroy();
      return;
    }
    this.socket.setTimeout(POOL_IDLE_MS);
    this.socket.unref();
    this.onIdle(this);
  }

  /** @internal Reading is paused from a callback by returning false; this restarts it. */
  resume(): void {
    if (!this.dead) this.socket.resume();
  }
}

/** One request and its answer on a connection. */
class Exchange implements HttpResponse {
  statusCode = 0;
  headers: Headers = {};
  readonly head: Promise<HttpResponse>;
  private headWaiter: Waiter<HttpResponse> | undefined;
  private headBytes: Buffer | undefined;
  private framing: BodyFraming | undefined;
  private keepAlive = false;
  /** body bytes that could not be handed on when they came (before `read`, or while `onChunk` was busy) */
  private readonly backlog: Uint8Array[] = [];
  private eof: (() => void) | undefined;
  private onChunk: ((chunk: Uint8Array) => Promise<void> | void) | undefined;
  private into: (() => Uint8Array) | undefined;
  private bodyWaiter: Waiter<void> | undefined;
  private busy = false;
  private failure: { err: unknown } | undefined;
  private over = false;
  private gotBytes = false;
  private readonly onAbort = (): void => {
    this.connection.socket.destroy(this.signal!.reason as Error);
  };

  constructor(
    private readonly connection: Connection,
    private readonly reused: boolean,
    private readonly signal: AbortSignal | undefined,
  ) {
    this.head = new Promise((resolve, reject) => (this.headWaiter = { resolve, reject }));
    signal?.addEventListener('abort', this.onAbort, { once: true });
    if (signal?.aborted) this.onAbort();
  }

  /**
   * Where the socket's next read goes, when the reader's memory may take it: only plain body bytes, only
   * while nothing waits to be handed on, and only if there is room for a good read.
   */
  target(): Uint8Array | undefined {
    if (this.into === undefined || this.busy || this.over || this.backlog.length > 0 || !this.framing?.plain)
      return undefined;
    const room = this.into();
    return room.byteLength >= MIN_READ_INTO ? room : undefined;
  }

  /** Bytes from the socket, valid only during the call; false pauses reading. */
  received(bytes: Uint8Array): boolean {
    this.gotBytes = true;
    if (this.over) return false;
    if (this.framing === undefined) return this.receivedHead(bytes);
    if (this.onChunk === undefined || this.busy || this.backlog.length > 0) {
      // They cannot be handed on now: kept (a TLS socket may still deliver a few after the pause).
      this.backlog.push(Buffer.from(bytes));
      return this.onChunk !== undefined && !this.busy && this.drain();
    }
    return this.deliver(bytes, 0);
  }

  private receivedHead(bytes: Uint8Array): boolean {
    const all = this.headBytes === undefined ? bytes : Buffer.concat([this.headBytes, bytes]);
    const end = headEnd(all, this.headBytes?.length ?? 0);
    if (end === -1) {
      if (all.length > MAX_HEAD_BYTES) return this.fail(new TransientError('the server sent an oversized head'));
      this.headBytes = Buffer.from(all);
      return true;
    }
    this.headBytes = undefined;
    const head = parseResponseHead(all.subarray(0, end));
    if (typeof head === 'string') return this.fail(new TransientError(`the server sent ${head}`));
    const rest = all.subarray(end);
    // Interim answers (103 Early Hints, ...) come before the real one.
    if (head.status < 200) return rest.length > 0 ? this.receivedHead(rest) : true;
    const framing = bodyFraming(head);
    if (typeof framing === 'string') return this.fail(new TransientError(`the server sent ${framing}`));
    this.statusCode = head.status;
    this.headers = head.headers;
    this.framing = framing;
    this.keepAlive = keepsAlive(head);
    this.headWaiter?.resolve(this);
    this.headWaiter = undefined;
    if (framing.done) {
      this.finish(rest.length === 0);
      return true;
    }
    // The caller reads or discards the body once it has the head; until then the socket waits.
    if (rest.length > 0) this.backlog.push(Buffer.from(rest));
    return false;
  }

  /** Hands body pieces from `bytes` to `onChunk`; false when reading must pause. */
  private deliver(bytes: Uint8Array, at: number): boolean {
    const framing = this.framing!;
    while (!framing.done && !this.over && at < bytes.length) {
      const step = framing.step(bytes, at);
      if (typeof step === 'string') return this.fail(new TransientError(`the server sent ${step}`));
      at = step.next;
      if (step.end === step.start) continue;
      let busy: Promise<void> | void;
      try {
        busy = this.onChunk!(bytes.subarray(step.start, step.end));
      } catch (err) {
        return this.fail(err, true);
      }
      if (busy === undefined) continue;
      this.busy = true;
      // What is left of these bytes comes before anything received meanwhile.
      if (at < bytes.length) this.backlog.unshift(Buffer.from(bytes.subarray(at)));
      busy.then(
        () => {
          this.busy = false;
          if (this.failure !== undefined) this.settle();
          else if (this.drain()) this.connection.resume();
        },
        (err: unknown) => {
          this.busy = false;
          this.fail(err, true);
        },
      );
      return false;
    }
    if (framing.done && !this.over) this.finish(at >= bytes.length && this.backlog.length === 0);
    // Once the body is over, a connection kept alive reads on, to notice when the server closes it.
    return this.failure === undefined;
  }

  /** Hands on the bytes kept back, then the connection's end if it came meanwhile; false to stay paused. */
  private drain(): boolean {
    while (this.backlog.length > 0) {
      if (this.over) return this.failure === undefined;
      if (!this.deliver(this.backlog.shift()!, 0)) return false;
    }
    // The body's last piece may have been the one the reader was busy with.
    if (this.framing?.done && !this.over) this.finish(true);
    const eof = this.eof;
    this.eof = undefined;
    eof?.();
    return this.failure === undefined;
  }

  /** Runs what the connection's end means once the bytes that came before it are handed on. */
  private afterBacklog(then: () => void): void {
    if (this.over) return;
    if (this.busy || this.backlog.length > 0) this.eof ??= then;
    else then();
  }

  read(onChunk: (chunk: Uint8Array) => Promise<void> | void, into?: () => Uint8Array): Promise<void> {
    if (this.over && this.failure === undefined) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.bodyWaiter = { resolve, reject };
      this.onChunk = onChunk;
      this.into = into;
      if (this.failure !== undefined) this.settle();
      else if (this.drain()) this.connection.resume();
    });
  }

  async discard(): Promise<void> {
    let seen = 0;
    await this.read((chunk) => {
      seen += chunk.length;
      if (seen > DISCARD_MAX) throw DISCARDED;
    }).catch(() => {});
  }

  /** The server closed the connection. */
  ended(): void {
    this.afterBacklog(() => this.endOfStream());
  }

  private endOfStream(): void {
    if (this.framing !== undefined && !this.framing.delimited) this.finish(false);
    else if (!this.gotBytes && this.reused) this.fail(new StaleConnection('the connection was closed'));
    else
      this.fail(
        new TransientError(
          this.framing === undefined ? 'the connection was closed' : 'the connection closed before the end',
        ),
      );
  }

  /** The socket failed or closed. */
  failed(err: unknown): void {
    if (this.over) return;
    if (this.signal?.aborted) this.fail(this.signal.reason);
    else this.afterBacklog(() => this.failedNow(err));
  }

  private failedNow(err: unknown): void {
    if (err instanceof TransientError) this.fail(err);
    else if (!this.gotBytes && this.reused) this.fail(new StaleConnection(describeNetworkError(err)));
    else this.fail(new TransientError(describeNetworkError(err)));
  }

  /** Ends the exchange with a failure; `ours` when the caller's onChunk failed. Always false (stop reading). */
  private fail(err: unknown, ours = false): false {
    if (this.over && this.failure !== undefined) return false;
    this.failure ??= { err: ours || !this.signal?.aborted ? err : this.signal.reason };
    this.end(false);
    if (!this.busy) this.settle();
    return false;
  }

  private finish(reusable: boolean): void {
    this.end(reusable && this.keepAlive && this.framing!.delimited);
    this.settle();
  }

  private end(reusable: boolean): void {
    if (this.over) return;
    this.over = true;
    this.signal?.removeEventListener('abort', this.onAbort);
    this.connection.release(this, reusable);
  }

  /** Tells the waiting caller how it ended. */
  private settle(): void {
    const err = this.failure?.err;
    if (this.headWaiter !== undefined) {
      if (err !== undefined) this.headWaiter.reject(err);
      this.headWaiter = undefined;
    }
    if (this.bodyWaiter !== undefined && !this.busy) {
      const waiter = this.bodyWaiter;
      this.bodyWaiter = undefined;
      if (err === undefined) waiter.resolve();
      else if (err !== DISCARDED) waiter.reject(err);
      else waiter.resolve();
    }
  }
}

/**
 * Kept-alive connections for one pull, by origin. Not undici nor node:http: both allocate a buffer per
 * read. Receiving a gigabyte from loopback over 4 connections and dropping it cost 1.5 s of CPU through
 * undici, 0.8 s through node:http and 0.25 s reading into one buffer per connection (`onread`), which
 * also kept the process 40 MiB smaller. node:tls is loaded only for an https mirror.
 */
export class HttpClient {
  private readonly idle = new Map<string, Connection[]>();
  private readonly open = new Set<Connection>();
  private tls: Promise<typeof import('node:tls')> | undefined;

  /** @internal A connection to the URL's origin: a kept-alive one if there is one. */
  async connection(url: URL): Promise<Connection> {
    const origin = `${url.protocol}//${url.host}`;
    const idle = this.idle.get(origin);
    while (idle !== undefined && idle.length > 0) {
      const c = idle.pop()!;
      if (!c.dead) return c;
    }
    const secure = url.protocol === 'https:' ? await (this.tls ??= import('node:tls')) : undefined;
    const c = new Connection(
      url,
      secure,
      (free) => {
        const list = this.idle.get(origin) ?? [];
        list.push(free);
        this.idle.set(origin, list);
      },
      (closed) => {
        this.open.delete(closed);
        const list = this.idle.get(origin);
        if (list?.includes(closed)) list.splice(list.indexOf(closed), 1);
      },
    );
    this.open.add(c);
    return c;
  }

  async close(): Promise<void> {
    for (const c of this.open) c.socket.destroy();
    this.open.clear();
    this.idle.clear();
  }
}

/** One connection pool per pull. */
export function httpClient(): HttpClient {
  return new HttpClient();
}

/** Waits between attempts that made no progress: base * 2^n, at most 5 s, with jitter against herds. */
export function backoffMs(failures: number, baseMs: number): number {
  const delay = Math.min(5_000, baseMs * 2 ** Math.max(0, failures - 1));
  return Math.round(delay * (0.75 + Math.random() * 0.5));
}

/** One GET, redirects not followed; a kept-alive connection the server had closed is replaced once. */
async function getOnce(
  client: HttpClient,
  url: URL,
  headers: Record<string, string>,
  signal?: AbortSignal,
): Promise<HttpResponse> {
  for (let fresh = false; ; fresh = true) {
    const connection = await client.connection(url);
    try {
      return await connection.request(url, headers, signal);
    } catch (err) {
      if (!(err instanceof StaleConnection) || fresh) throw err;
    }
  }
}

const REDIRECT = new Set([301, 302, 303, 307, 308]);

/**
 * GET with an optional Range from `start`, following up to 5 redirects (to http or https only); network
 * failures become TransientError.
 */
export async function get(
  client: HttpClient,
  url: URL,
  opts: { start?: number; signal?: AbortSignal } = {},
): Promise<HttpResponse> {
  const headers: Record<string, string> = { 'accept-encoding': 'identity' };
  if (opts.start !== undefined && opts.start > 0) headers.range = `bytes=${opts.start}-`;
  let at = url;
  for (let redirects = 0; ; redirects++) {
    const res = await getOnce(client, at, headers, opts.signal);
    const location = headerValue(res.headers, 'location');
    if (!REDIRECT.has(res.statusCode) || location === undefined || redirects === MAX_REDIRECTS) return res;
    let next: URL;
    try {
      next = new URL(location, at);
    } catch {
      return res;
    }
    if (next.protocol !== 'http:' && next.protocol !== 'https:') return res;
    await res.discard();
    at = next;
  }
}

/** Whether a status means "try again later" rather than an answer about the file. */
export function transientStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}
