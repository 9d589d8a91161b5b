// Search over a job's whole stored console, on the server: the bytes are read in slices and
// rendered line by line (so a hit is a line the page can show, colours and carriage returns
// resolved, secrets masked), holding one slice and one line at a time.

import { ConsoleRenderer, lineText, type Line } from './console-render.js';
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
  const r = new ConsoleRenderer(src.start);
  let pos = src.start;
  while (pos < src.end) {
    const slice = await src.read(pos, Math.min(READ_BYTES, src.end - pos));
    if (slice.data.length === 0 || slice.offset !== pos) break;
    for (const line of r.push(slice.data)) if (!check(line)) return result;
    pos += slice.data.length;
  }
  const last = r.pending();
  if (last) check(last);
  return result;
}
