import type { IncomingHttpHeaders } from 'node:http';
import { Agent, interceptors, request, type Dispatcher } from 'undici';
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
export function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
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
    case 'UND_ERR_SOCKET':
    case 'UND_ERR_CLOSED':
      return 'the connection was closed';
    case 'UND_ERR_CONNECT_TIMEOUT':
      return 'connecting timed out';
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
      return 'the server stopped sending';
    case 'ETIMEDOUT':
      return 'timed out';
    default:
      return (e.message || String(err)).split('\n')[0]!;
  }
}

export interface HttpClient {
  dispatcher: Dispatcher;
  close(): Promise<void>;
}

/** One connection pool per pull: keep-alive, a few redirects, bounded waits. */
export function httpClient(connectionsPerHost: number): HttpClient {
  const agent = new Agent({ connections: connectionsPerHost, connectTimeout: 10_000 });
  return {
    dispatcher: agent.compose(interceptors.redirect({ maxRedirections: 5 })),
    close: () => agent.close(),
  };
}

/** Waits between attempts that made no progress: base * 2^n, at most 5 s, with jitter against herds. */
export function backoffMs(failures: number, baseMs: number): number {
  const delay = Math.min(5_000, baseMs * 2 ** Math.max(0, failures - 1));
  return Math.round(delay * (0.75 + Math.random() * 0.5));
}

/** GET with an optional Range from `start`; network failures become TransientError. */
export async function get(
  client: HttpClient,
  url: URL,
  opts: { start?: number; signal?: AbortSignal } = {},
): Promise<Dispatcher.ResponseData> {
  const headers: Record<string, string> = { 'accept-encoding': 'identity' };
  if (opts.start !== undefined && opts.start > 0) headers.range = `bytes=${opts.start}-`;
  try {
    return await request(url, {
      method: 'GET',
      headers,
      dispatcher: client.dispatcher,
      signal: opts.signal,
      headersTimeout: 30_000,
      bodyTimeout: 30_000,
    });
  } catch (err) {
    if (opts.signal?.aborted) throw err;
    throw new TransientError(describeNetworkError(err));
  }
}

/** Whether a status means "try again later" rather than an answer about the file. */
export function transientStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}
