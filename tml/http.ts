// HTTP/1.1 requests over node:http and node:https with the three time limits a CLI needs, and
// bodies read whole up to a cap. Not undici: its index loads its whole library and compiles a
// WebAssembly parser, most of a `tml job status`'s time. Not fetch: it refuses the Fetch
// standard's "bad ports" (6000, 6665-6669, ...), which are ordinary ports for a switchboard.
// HTTPS verifies against Node's CA store (NODE_EXTRA_CA_CERTS adds to it, --use-openssl-ca swaps it).

import http from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';

export type TimeoutCode = 'CONNECT_TIMEOUT' | 'HEADERS_TIMEOUT' | 'BODY_TIMEOUT';

/** A time limit passed; `code` says which. */
export class HttpTimeoutError extends Error {
  override name = 'HttpTimeoutError';
  constructor(readonly code: TimeoutCode) {
    super(code);
  }
}

/** A body longer than its reader's cap. */
export class AnswerTooLargeError extends Error {
  override name = 'AnswerTooLargeError';
  constructor(readonly maxBytes: number) {
    super(`the answer is longer than ${maxBytes} bytes`);
  }
}

export interface HttpAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: http.IncomingMessage;
}

export interface HttpRequest {
  method: string;
  headers: Record<string, string>;
  body?: string;
  signal?: AbortSignal;
  /** Time to open the connection (TCP, and TLS for https). */
  connectTimeoutMs: number;
  /** Longest quiet time from the connection to the answer's headers. */
  headersTimeoutMs: number;
  /** Longest quiet time between two parts of the body; 0 for no limit. */
  bodyTimeoutMs: number;
}

/** Keep-alive agents, one per scheme, made on first use (node:https loads TLS and crypto): a
 * client's calls share their connections. */
export class Agents {
  private plain: http.Agent | null = null;
  private secure: https.Agent | null = null;

  for(url: URL): http.Agent {
    if (url.protocol === 'https:') return (this.secure ??= new https.Agent({ keepAlive: true }));
    return (this.plain ??= new http.Agent({ keepAlive: true }));
  }
}

/** Resolves at the answer's headers; the body is left to the caller to read. */
export function httpRequest(url: URL, agents: Agents, r: HttpRequest): Promise<HttpAnswer> {
  const secure = url.protocol === 'https:';
  return new Promise((resolve, reject) => {
    const req = (secure ? https : http).request(url, {
      method: r.method,
      headers: r.body === undefined ? r.headers : { ...r.headers, 'content-length': String(Buffer.byteLength(r.body)) },
      agent: agents.for(url),
      signal: r.signal,
    });
    let connectTimer: NodeJS.Timeout | undefined;
    let answer: http.IncomingMessage | null = null;
    req.on('socket', (socket) => {
      // A kept-alive socket is connected already.
      if (!socket.connecting) return;
      connectTimer = setTimeout(() => req.destroy(new HttpTimeoutError('CONNECT_TIMEOUT')), r.connectTimeoutMs);
      socket.once(secure ? 'secureConnect' : 'connect', () => clearTimeout(connectTimer));
    });
    // Node's request time-out is the socket's idle time, counted from the connection on.
    req.setTimeout(r.headersTimeoutMs);
    req.on('timeout', () => {
      if (answer === null) req.destroy(new HttpTimeoutError('HEADERS_TIMEOUT'));
      else answer.destroy(new HttpTimeoutError('BODY_TIMEOUT'));
    });
    req.on('error', (err) => {
      clearTimeout(connectTimer);
      reject(err);
    });
    req.on('close', () => clearTimeout(connectTimer));
    req.on('response', (res) => {
      clearTimeout(connectTimer);
      answer = res;
      req.setTimeout(r.bodyTimeoutMs);
      resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res });
    });
    req.end(r.body);
  });
}

/** The whole body; past `maxBytes` the connection is dropped and AnswerTooLargeError thrown. */
export async function readBody(body: Readable, maxBytes: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let length = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    length += chunk.length;
    if (length > maxBytes) {
      body.destroy();
      throw new AnswerTooLargeError(maxBytes);
    }
    parts.push(chunk);
  }
  return Buffer.concat(parts, length);
}

/** The first value of a header. */
export function headerOf(headers: http.IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}
