// Search over a job's whole stored console, on the server. A hit is a line whose rendered text
// (colours and carriage returns resolved, secrets masked) holds the query, so that what is found
// is what the page shows. Rendering 100 MB byte by byte is slow, so the raw bytes are scanned
// first and only lines that can hold a hit are rendered: those where the query is in the bytes
// (allowing style sequences between its characters) and those whose rendering is not simply
// their printable bytes (other control bytes, non-ASCII). A long line the renderer breaks is
// found too: its pieces' texts are pieces of its bytes. The hits are exactly those rendering every
// line gives (a property test holds the two together); one slice is held at a time.

import { ConsoleRenderer, MAX_LINE_BYTES, lineText, renderAll, type Line } from './console-render.js';
import type { ConsoleSource } from './console-window.js';
import type { Redactor } from './redact.js';
import type { SearchResult } from './wire.js';

export const MAX_QUERY_LENGTH = 200;
export const DEFAULT_MAX_HITS = 1000;
const READ_BYTES = 1024 * 1024;
const SNIPPET = 160;

export interface SearchOptions {
  maxHits?: number;
  caseSensitive?: boolean;
  /** false: render every line, never take the byte scan (to compare the two). */
  fastPath?: boolean;
}

// A line whose bytes are printable ASCII, SGR sequences (`ESC [ digits ; m`, style only: the
// renderer takes up to 63 parameter bytes) and carriage returns just before its newline renders
// to its printable bytes, in order. These find the bytes of lines that are not like that: other
// controls and non-ASCII, other escape sequences, carriage returns mid-line (each line searched
// here ends with a newline). Three simple patterns scan faster than one with all three.
const NOT_SIMPLE = [/[\x00-\x09\x0b\x0c\x0e-\x1a\x1c-\x1f\x7f-\xff]/g, /\x1b(?!\[[0-9;]{0,63}m)/g, /\r(?!\r*\n)/g];
const SGR_RUN = '(?:\\x1b\\[[0-9;]{0,63}m)*';

/** Up to SNIPPET characters of `text` around the match at `at`. */
export function snippet(text: string, at: number, len: number): string {
  if (text.length <= SNIPPET) return text;
  const start = Math.max(0, Math.min(at - Math.floor((SNIPPET - len) / 2), text.length - SNIPPET));
  return `${start > 0 ? '…' : ''}${text.slice(start, start + SNIPPET)}${start + SNIPPET < text.length ? '…' : ''}`;
}

export async function searchConsole(
  src: ConsoleSource,
  query: string,
  redactor: Redactor,
  opts: SearchOptions = {},
): Promise<SearchResult> {
  const maxHits = opts.maxHits ?? DEFAULT_MAX_HITS;
  const caseSensitive = opts.caseSensitive === true;
  const needle = caseSensitive ? query : query.toLowerCase();
  // The query is echoed redacted too: no answer holds a secret, even one the viewer typed.
  const result: SearchResult = { query: redactor.text(query), hits: [], truncated: false };
  if (needle === '') return result;
  // A needle outside printable ASCII (whose case folding bytes cannot mirror), or one that could
  // match a mask, is looked for in every rendered line. Masking cannot make any other needle
  // appear: it only replaces text with `***`.
  const scan = opts.fastPath !== false && /^[\x20-\x7e]+$/.test(needle) && !needle.includes('*');
  const lines = scan ? candidateLines(src, needle, caseSensitive) : renderedLines(src);
  for await (const line of lines) {
    const text = lineText(redactor.line(line));
    const at = (caseSensitive ? text : text.toLowerCase()).indexOf(needle);
    if (at < 0) continue;
    if (result.hits.length === maxHits) {
      result.truncated = true;
      break;
    }
    result.hits.push({ id: line.start, text: snippet(text, at, needle.length) });
  }
  return result;
}

/** The stored console in slices, each starting where the last ended, until the end or a gap. */
async function* slices(src: ConsoleSource): AsyncGenerator<{ offset: number; data: Buffer }> {
  let pos = src.start;
  while (pos < src.end) {
    const slice = await src.read(pos, Math.min(READ_BYTES, src.end - pos));
    if (slice.data.length === 0 || slice.offset !== pos) return;
    yield slice;
    pos += slice.data.length;
  }
}

/** Every line of the console, rendered. */
async function* renderedLines(src: ConsoleSource): AsyncGenerator<Line> {
  const r = new ConsoleRenderer(src.start);
  for await (const slice of slices(src)) yield* r.push(slice.data);
  const last = r.pending();
  if (last) yield last;
}

/**
 * The lines that can hold `needle`, rendered, in order. After a newline the renderer is in its
 * starting state but for the style, which changes no text, so each line renders on its own to the
 * text it has in a rendering of the whole console.
 */
async function* candidateLines(src: ConsoleSource, needle: string, caseSensitive: boolean): AsyncGenerator<Line> {
  // The needle's characters with any style sequences between them. Ignoring case this way (for
  // ASCII, as lower-casing does) skips lower-casing the bytes.
  const pattern = [...needle].map((c) => c.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&')).join(SGR_RUN);
  const inStyled = new RegExp(pattern, caseSensitive ? 'g' : 'gi');
  // The unfinished line: its bytes so far, or, once it is too long to hold, a renderer fed as it streams.
  let carry = Buffer.alloc(0);
  let carryAt = src.start;
  let long: ConsoleRenderer | null = null;
  for await (const { offset, data } of slices(src)) {
    let d = data;
    let at = offset;
    const nl = d.indexOf(0x0a);
    if (long || carry.length > 0) {
      // The first newline ends the unfinished line.
      const head = nl < 0 ? d : d.subarray(0, nl + 1);
      if (long) {
        yield* long.push(head);
      } else if (nl >= 0) {
        yield* candidatesIn(Buffer.concat([carry, head]), carryAt, inStyled);
      } else {
        carry = Buffer.concat([carry, head]);
      }
      if (nl < 0) {
        if (!long && carry.length >= MAX_LINE_BYTES) {
          long = new ConsoleRenderer(carryAt);
          yield* long.push(carry);
          carry = Buffer.alloc(0);
        }
        continue;
      }
      long = null;
      carry = Buffer.alloc(0);
      d = d.subarray(nl + 1);
      at += nl + 1;
    }
    const last = d.lastIndexOf(0x0a);
    if (last >= 0) yield* candidatesIn(d.subarray(0, last + 1), at, inStyled);
    const rest = d.subarray(last + 1);
    carryAt = at + last + 1;
    if (rest.length >= MAX_LINE_BYTES) {
      long = new ConsoleRenderer(carryAt);
      yield* long.push(rest);
    } else {
      carry = Buffer.from(rest);
    }
  }
  const last = long ? long.pending() : null;
  if (last) yield last;
  if (!long && carry.length > 0) yield* renderAll(carry, carryAt);
}

/** The candidate lines of `region` (whole lines, starting at absolute offset `base`), rendered. */
function* candidatesIn(region: Buffer, base: number, inStyled: RegExp): Generator<Line> {
  // Latin-1 maps each byte to one character, so string positions are byte positions.
  const text = region.toString('latin1');
  const starts: number[] = [];
  // No pattern matches a newline, so the line of a match is the one around its first byte.
  for (const re of [inStyled, ...NOT_SIMPLE]) {
    re.lastIndex = 0;
    for (let m = re.exec(text); m; m = re.exec(text)) {
      starts.push(text.lastIndexOf('\n', m.index) + 1);
      // One candidate per line is enough: go on after this line's newline.
      re.lastIndex = text.indexOf('\n', m.index) + 1;
    }
  }
  starts.sort((a, b) => a - b);
  let prev = -1;
  for (const start of starts) {
    if (start === prev) continue;
    prev = start;
    yield* renderAll(region.subarray(start, text.indexOf('\n', start) + 1), base + start);
  }
}
