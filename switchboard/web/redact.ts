// Hides secret parameter values wherever job output is shown: console lines, messages, the raw
// download. A guest that prints a secret must not reveal it through the web console.

import type { Line, Run } from './console-render.js';

/** Shorter secrets are not hidden: masking every "ab" would make logs unreadable. */
export const MIN_SECRET_LENGTH = 4;
export const MASK = '***';

export class Redactor {
  private readonly secrets: string[];
  private readonly secretBytes: Buffer[];
  /** Bytes a streaming pass must hold back so a secret split across chunks is still found. */
  readonly holdBack: number;

  constructor(secrets: readonly string[]) {
    this.secrets = [...new Set(secrets.filter((s) => s.length >= MIN_SECRET_LENGTH))].sort(
      (a, b) => b.length - a.length,
    );
    this.secretBytes = this.secrets.map((s) => Buffer.from(s, 'utf8'));
    this.holdBack = Math.max(0, ...this.secretBytes.map((b) => b.length - 1));
  }

  get empty(): boolean {
    return this.secrets.length === 0;
  }

  /** The leftmost (then longest) secret at or after `from` in `text`, or null. */
  private next(text: string, from: number): { at: number; len: number } | null {
    let best: { at: number; len: number } | null = null;
    for (const s of this.secrets) {
      const at = text.indexOf(s, from);
      if (at >= 0 && (best === null || at < best.at)) best = { at, len: s.length };
    }
    return best;
  }

  /** `text` with every secret replaced by MASK, until none is left. */
  text(text: string): string {
    if (this.empty) return text;
    let out = text;
    while (true) {
      let hit = this.next(out, 0);
      if (!hit) return out;
      let result = '';
      let pos = 0;
      while (hit) {
        result += out.slice(pos, hit.at) + MASK;
        pos = hit.at + hit.len;
        hit = this.next(out, pos);
      }
      out = result + out.slice(pos);
    }
  }

  textOrNull(text: string | null): string | null {
    return text === null ? null : this.text(text);
  }

  /**
   * A console line with its secrets masked, the mask taking the style of the text it replaces.
   * An unfinished line also hides a tail that could be the start of a secret still arriving.
   */
  line(line: Line, unfinished = false): Line {
    if (this.empty) return line;
    let runs = line.runs;
    while (true) {
      const text = runs.map((r) => r.text).join('');
      let hit = this.next(text, 0);
      if (!hit) {
        const tail = unfinished ? this.secretPrefixTail(text) : null;
        if (tail) runs = maskRuns(runs, [tail]);
        return runs === line.runs ? line : { ...line, runs };
      }
      const ranges: Array<{ at: number; len: number }> = [];
      while (hit) {
        ranges.push(hit);
        hit = this.next(text, hit.at + hit.len);
      }
      runs = maskRuns(runs, ranges);
    }
  }

  /** The longest suffix of `text` that is a proper prefix of a secret. */
  private secretPrefixTail(text: string): { at: number; len: number } | null {
    for (let len = Math.min(text.length, this.secrets[0]!.length - 1); len > 0; len--) {
      const tail = text.slice(text.length - len);
      if (this.secrets.some((s) => s.length > len && s.startsWith(tail))) return { at: text.length - len, len };
    }
    return null;
  }

  /**
   * Masks secrets in a byte stream. Returns the bytes that are final and keeps up to `holdBack`
   * bytes for the next call; `flush` returns the rest.
   */
  streamer(): { push(chunk: Buffer): Buffer; flush(): Buffer } {
    let carry = Buffer.alloc(0);
    const run = (buf: Buffer, final: boolean): Buffer => {
      if (this.secretBytes.length === 0) return buf;
      const limit = final ? buf.length : buf.length - this.holdBack;
      const parts: Buffer[] = [];
      let pos = 0;
      while (pos < limit) {
        let best: { at: number; len: number } | null = null;
        for (const s of this.secretBytes) {
          const at = buf.indexOf(s, pos);
          if (at >= 0 && (best === null || at < best.at)) best = { at, len: s.length };
        }
        if (!best || best.at >= limit) break;
        parts.push(buf.subarray(pos, best.at), Buffer.from(MASK));
        pos = best.at + best.len;
      }
      const keepFrom = Math.max(pos, limit);
      parts.push(buf.subarray(pos, keepFrom));
      carry = Buffer.from(buf.subarray(keepFrom));
      return Buffer.concat(parts);
    };
    return {
      push: (chunk) => run(carry.length ? Buffer.concat([carry, chunk]) : chunk, false),
      flush: () => run(carry, true),
    };
  }
}

/** Replaces each range of a line's text with MASK, styled like the range's first character. */
function maskRuns(runs: readonly Run[], ranges: ReadonlyArray<{ at: number; len: number }>): Run[] {
  const out: Run[] = [];
  const push = (cls: string, text: string) => {
    if (text === '') return;
    const last = out[out.length - 1];
    if (last && last.cls === cls) last.text += text;
    else out.push({ cls, text });
  };
  let pos = 0;
  let r = 0;
  for (const run of runs) {
    const end = pos + run.text.length;
    let i = pos;
    while (i < end) {
      const range = ranges[r];
      if (!range || range.at >= end) {
        push(run.cls, run.text.slice(i - pos));
        i = end;
      } else if (i < range.at) {
        push(run.cls, run.text.slice(i - pos, range.at - pos));
        i = range.at;
      } else {
        if (i === range.at) push(run.cls, MASK);
        const stop = Math.min(end, range.at + range.len);
        i = stop;
        if (stop === range.at + range.len) r++;
      }
    }
    pos = end;
  }
  return out;
}
