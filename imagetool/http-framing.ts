/**
 * HTTP/1.1 responses as bytes (RFC 9112): the head (status line and header fields) and the framing of
 * the body (Content-Length, chunked, or until the connection closes). Everything here is untrusted
 * input: a malformed response is a string saying so, never an exception or an unbounded buffer.
 */

export type Headers = Record<string, string | string[]>;

export interface ResponseHead {
  status: number;
  /** HTTP/1.1, or HTTP/1.0 */
  minor: 0 | 1;
  headers: Headers;
}

/** A response head is at most this long; a longer one is refused. */
export const MAX_HEAD_BYTES = 64 << 10;

const STATUS_LINE = /^HTTP\/1\.([01]) (\d{3})(?: [^\r\n]*)?$/;
const FIELD = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*(.*?)[ \t]*$/;

/** Where the head ends (just past its empty line), or -1 while it is incomplete. */
export function headEnd(bytes: Uint8Array, from = 0): number {
  for (let i = Math.max(0, from - 3); i + 3 < bytes.length; i++)
    if (bytes[i] === 13 && bytes[i + 1] === 10 && bytes[i + 2] === 13 && bytes[i + 3] === 10) return i + 4;
  return -1;
}

/** Parses a response head (its bytes up to and including the empty line). */
export function parseResponseHead(bytes: Uint8Array): ResponseHead | string {
  const lines = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1').split('\r\n');
  const status = STATUS_LINE.exec(lines[0]!);
  if (!status) return 'a malformed status line';
  const headers: Headers = {};
  for (const line of lines.slice(1)) {
    if (line === '') continue;
    const field = FIELD.exec(line);
    if (!field) return 'a malformed header field';
    const name = field[1]!.toLowerCase();
    const had = headers[name];
    const value = field[2]!;
    headers[name] = had === undefined ? value : Array.isArray(had) ? [...had, value] : [had, value];
  }
  return { status: Number(status[2]), minor: status[1] === '1' ? 1 : 0, headers };
}

/** A piece of body in the bytes given, and where the next byte to look at is. */
export interface BodyStep {
  start: number;
  end: number;
  next: number;
}

/** Finds the body's bytes among what a connection receives, one piece at a time. */
export interface BodyFraming {
  /** The next piece of body at or after `at` (possibly empty), or a string for malformed framing. */
  step(bytes: Uint8Array, at: number): BodyStep | string;
  /** Whether the body has ended (for until-close framing: never, the connection's end ends it). */
  readonly done: boolean;
  /** Whether the connection can carry another request once the body is done. */
  readonly delimited: boolean;
  /** Whether every byte after the head is body (no framing between its pieces). */
  readonly plain: boolean;
}

class LengthFraming implements BodyFraming {
  readonly delimited = true;
  readonly plain = true;
  constructor(private left: number) {}
  get done(): boolean {
    return this.left === 0;
  }
  step(bytes: Uint8Array, at: number): BodyStep {
    const end = Math.min(bytes.length, at + this.left);
    this.left -= end - at;
    return { start: at, end, next: end };
  }
}

class UntilCloseFraming implements BodyFraming {
  readonly delimited = false;
  readonly plain = true;
  readonly done = false;
  step(bytes: Uint8Array, at: number): BodyStep {
    return { start: at, end: bytes.length, next: bytes.length };
  }
}

const MAX_LINE = 4096;
const HEX = /^([0-9A-Fa-f]{1,12})[ \t]*(?:;.*)?$/;

/** Transfer-Encoding: chunked. Lines of framing may arrive split over reads: they are gathered. */
class ChunkedFraming implements BodyFraming {
  readonly delimited = true;
  readonly plain = false;
  private state: 'size' | 'data' | 'data-end' | 'trailer' | 'done' = 'size';
  private left = 0;
  private line = '';
  get done(): boolean {
    return this.state === 'done';
  }

  /** Gathers a line; returns it (without CRLF) once complete, with where it ended. */
  private takeLine(bytes: Uint8Array, at: number): { line?: string; next: number } | string {
    const lf = bytes.indexOf(10, at);
    const end = lf === -1 ? bytes.length : lf;
    this.line += Buffer.from(bytes.buffer, bytes.byteOffset + at, end - at).toString('latin1');
    if (this.line.length > MAX_LINE) return 'a chunk framing line too long';
    if (lf === -1) return { next: bytes.length };
    const line = this.line.endsWith('\r') ? this.line.slice(0, -1) : this.line;
    this.line = '';
    return { line, next: lf + 1 };
  }

  step(bytes: Uint8Array, at: number): BodyStep | string {
    while (at < bytes.length) {
      if (this.state === 'data') {
        const end = Math.min(bytes.length, at + this.left);
        this.left -= end - at;
        if (this.left === 0) this.state = 'data-end';
        return { start: at, end, next: end };
      }
      if (this.state === 'done') return 'bytes after the last chunk';
      const taken = this.takeLine(bytes, at);
      if (typeof taken === 'string') return taken;
      at = taken.next;
      if (taken.line === undefined) break;
      if (this.state === 'data-end') {
        if (taken.line !== '') return 'a chunk longer than its size';
        this.state = 'size';
      } else if (this.state === 'size') {
        const size = HEX.exec(taken.line);
        if (!size) return 'a malformed chunk size';
        this.left = parseInt(size[1]!, 16);
        this.state = this.left === 0 ? 'trailer' : 'data';
      } else if (taken.line === '') {
        this.state = 'done';
        return { start: at, end: at, next: at };
      }
    }
    return { start: at, end: at, next: at };
  }
}

/**
 * How the body of a response to a GET is delimited (RFC 9112 6.3), or a string when the head makes
 * that ambiguous.
 */
export function bodyFraming(head: ResponseHead): BodyFraming | string {
  if (head.status === 204 || head.status === 304) return new LengthFraming(0);
  const te = head.headers['transfer-encoding'];
  if (te !== undefined) {
    const codings = (Array.isArray(te) ? te.join(',') : te).split(',').map((c) => c.trim().toLowerCase());
    return codings[codings.length - 1] === 'chunked' ? new ChunkedFraming() : new UntilCloseFraming();
  }
  const cl = head.headers['content-length'];
  if (cl === undefined) return new UntilCloseFraming();
  const values = Array.isArray(cl) ? cl : [cl];
  if (!values.every((v) => v === values[0]) || !/^\d{1,16}$/.test(values[0]!)) return 'a malformed Content-Length';
  const length = Number(values[0]);
  return Number.isSafeInteger(length) ? new LengthFraming(length) : 'a malformed Content-Length';
}

/** Whether the server keeps the connection open after this response. */
export function keepsAlive(head: ResponseHead): boolean {
  const connection = head.headers.connection;
  const tokens = (Array.isArray(connection) ? connection.join(',') : (connection ?? ''))
    .split(',')
    .map((t) => t.trim().toLowerCase());
  return head.minor === 1 ? !tokens.includes('close') : tokens.includes('keep-alive');
}
