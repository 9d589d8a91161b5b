// Search over a job's whole stored console, on the server: the bytes are read in slices and
// rendered line by line (so a hit is a line the page can show, colours and carriage returns
// resolved, secrets masked), holding one slice and one line at a time.

import { ConsoleRenderer, MAX_LINE_BYTES, lineText, type Line } from './console-render.js';
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
  /** false: render every line, never take the plain-text shortcut (to compare the two). */
  fastPath?: boolean;
}

// Stretches of console that are printable ASCII and newlines only, in lines no longer than the
// renderer breaks at, render to exactly their bytes: there they are searched as text directly.
const NOT_PLAIN = /[^\n\x20-\x7e]/;

function hasLongLine(text: string): boolean {
  let prev = -1;
  for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', nl + 1)) {
    if (nl - prev > MAX_LINE_BYTES) return true;
    prev = nl;
  }
  return false;
}

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
  const needle = opts.caseSensitive ? query : query.toLowerCase();
  // The query is echoed redacted too: no answer holds a secret, even one the viewer typed.
  const result: SearchResult = { query: redactor.text(query), hits: [], truncated: false };
  if (needle === '') return result;
  const check = (line: Line): boolean => {
    const text = lineText(redactor.line(line));
    const at = (opts.caseSensitive ? text : text.toLowerCase()).indexOf(needle);
    if (at < 0) return true;
    if (result.hits.length === maxHits) {
      result.truncated = true;
      return false;
    }
    result.hits.push({ id: line.start, text: snippet(text, at, needle.length) });
    return true;
  };
  // A needle outside printable ASCII, or one that could match a mask, takes the rendering path.
  const fast = opts.fastPath !== false && /^[\x20-\x7e]+$/.test(needle) && !needle.includes('*');
  let r = new ConsoleRenderer(src.start);
  let pos = src.start;
  while (pos < src.end) {
    const slice = await src.read(pos, Math.min(READ_BYTES, src.end - pos));
    if (slice.data.length === 0 || slice.offset !== pos) break;
    const data = slice.data;
    const lastNewline = fast && r.offset === r.resumeOffset ? data.lastIndexOf(0x0a) : -1;
    if (lastNewline >= 0) {
      const region = data.subarray(0, lastNewline + 1).toString('latin1');
      if (!NOT_PLAIN.test(region) && !hasLongLine(region)) {
        const hay = opts.caseSensitive ? region : region.toLowerCase();
        let from = 0;
        let at: number;
        while ((at = hay.indexOf(needle, from)) >= 0) {
          const start = hay.lastIndexOf('\n', at) + 1;
          const end = hay.indexOf('\n', at);
          const line = { start: pos + start, end: pos + end + 1, runs: [{ cls: '', text: region.slice(start, end) }] };
          if (!check(line)) return result;
          from = end + 1;
        }
        pos += lastNewline + 1;
        // No escape sequence was in the stretch, so the style the renderer had still holds. The
        // unfinished line after it is read again with the next slice.
        r = new ConsoleRenderer(pos, r.state);
        continue;
      }
    }
    for (const line of r.push(data)) if (!check(line)) return result;
    pos += data.length;
  }
  const last = r.pending();
  if (last) check(last);
  return result;
}
