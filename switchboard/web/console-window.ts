// Windows of a job's console as lines: the tail a page opens with, earlier output loaded on
// demand, the lines around an anchor, and what a live stream sends. Each window reads only
// bytes near it, so a 100 MB console costs what a small one does. Rendering starts a little
// before the window, at a line start, so colours set just before it carry into it and line ids
// are the ones a rendering of the whole console gives.

import { ConsoleRenderer, type Line } from './console-render.js';
import type { ConsoleSlice, ConsoleTimeMark } from './data.js';
import type { Redactor } from './redact.js';
import type { WireLine } from './wire.js';

/** How much console a page shows first, and each "earlier output" step adds. */
export const WINDOW_BYTES = 96 * 1024;
/** Rendering starts at a line start at least this far before a window (for colours). */
export const WARMUP_BYTES = 16 * 1024;
/** How far back a line start is looked for before giving up (a window inside one huge line). */
export const LOOKBACK_BYTES = 1024 * 1024;
const READ_BYTES = 64 * 1024;

export interface ConsoleSource {
  read(offset: number, maxBytes: number): Promise<ConsoleSlice>;
  times(from: number, to: number): Promise<ConsoleTimeMark[]>;
  /** Stored bytes are [start, end). */
  start: number;
  end: number;
}

/** The start of the line holding byte `p` (p itself if it starts one), looking back a bounded way. */
export async function lineStartAtOrBefore(src: ConsoleSource, p: number): Promise<number> {
  let hi = Math.min(p, src.end);
  while (hi > src.start && p - hi < LOOKBACK_BYTES) {
    const lo = Math.max(src.start, hi - 16 * 1024);
    const slice = await src.read(lo, hi - lo);
    const idx = slice.data.subarray(0, hi - slice.offset).lastIndexOf(0x0a);
    if (idx >= 0) return slice.offset + idx + 1;
    if (slice.offset > lo) return slice.offset;
    hi = lo;
  }
  return Math.max(src.start, hi);
}

export interface RenderedRange {
  lines: Line[];
  /** Lines starting in [from, next) are in `lines`; `next` is where the following window starts. */
  from: number;
  next: number;
  /** The last line is the console's unfinished last line. */
  endsUnfinished: boolean;
}

/**
 * Lines starting in [from, until), stopping after about `maxBytes` of them; the console's
 * unfinished last line is included when the range reaches the end.
 */
export async function renderRange(
  src: ConsoleSource,
  from: number,
  until: number,
  maxBytes: number,
): Promise<RenderedRange> {
  const lo = Math.min(Math.max(from, src.start), src.end);
  const anchor = await lineStartAtOrBefore(src, Math.max(src.start, lo - WARMUP_BYTES));
  const r = new ConsoleRenderer(anchor);
  const lines: Line[] = [];
  let pos = anchor;
  const take = (ls: Line[]) => {
    for (const l of ls) if (l.start >= lo && l.start < until) lines.push(l);
  };
  while (pos < src.end && r.resumeOffset < until) {
    if (lines.length > 0 && r.resumeOffset - lo >= maxBytes) break;
    const slice = await src.read(pos, Math.min(READ_BYTES, src.end - pos));
    if (slice.data.length === 0) break;
    if (slice.offset !== pos) {
      // The bytes we needed were dropped while we read: start afresh where storage now begins.
      return renderRange({ ...src, start: slice.offset }, Math.max(from, slice.offset), until, maxBytes);
    }
    take(r.push(slice.data));
    pos += slice.data.length;
  }
  let endsUnfinished = false;
  const pending = r.pending();
  if (pos >= src.end && pending && pending.start >= lo && pending.start < until) {
    lines.push(pending);
    endsUnfinished = true;
  }
  const next = endsUnfinished
    ? pending!.start
    : lines.length > 0
      ? lines[lines.length - 1]!.end
      : Math.max(lo, Math.min(r.resumeOffset, until));
  return { lines, from: lines[0]?.start ?? lo, next, endsUnfinished };
}

/** The window of about WINDOW_BYTES ending at `end` (the tail, or output before a window). */
export function renderBefore(src: ConsoleSource, end: number): Promise<RenderedRange> {
  return renderRange(src, Math.max(src.start, end - WINDOW_BYTES), end, WINDOW_BYTES);
}

/** The window around byte `at`, for an anchor link or a search hit. */
export function renderAround(src: ConsoleSource, at: number): Promise<RenderedRange> {
  return renderRange(src, Math.max(src.start, at - WINDOW_BYTES / 2), Infinity, WINDOW_BYTES);
}

/** Each line's receive time: that of the last mark at or before its start. */
export function lineTimes(lines: readonly Line[], marks: readonly ConsoleTimeMark[]): Array<number | null> {
  let m = -1;
  return lines.map((l) => {
    while (m + 1 < marks.length && marks[m + 1]!.offset <= l.start) m++;
    return m >= 0 ? marks[m]!.time : null;
  });
}

/** Lines as the page and its script get them: secrets masked, with receive times. */
export async function wireLines(
  src: ConsoleSource,
  range: RenderedRange,
  redactor: Redactor,
  live: boolean,
): Promise<WireLine[]> {
  const { lines } = range;
  if (lines.length === 0) return [];
  const marks = await src.times(lines[0]!.start, lines[lines.length - 1]!.end);
  const times = lineTimes(lines, marks);
  return lines.map((line, i) => {
    const unfinished = live && range.endsUnfinished && i === lines.length - 1;
    const l = redactor.line(line, unfinished);
    const w: WireLine = { id: l.start, end: l.end, runs: l.runs.map((r) => [r.cls, r.text]), t: times[i]! };
    if (unfinished) w.partial = true;
    return w;
  });
}
