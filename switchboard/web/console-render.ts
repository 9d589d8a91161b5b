// Console bytes -> lines of styled text runs, incrementally. A line's id is the absolute byte
// offset where it starts, so ids stay valid while the log grows. Everything here is decided by
// the bytes alone, never by how they were chunked: the renderer keeps a UTF-8 decoder and an
// escape-sequence parser across calls. Carriage return, backspace and "erase in line" rewrite the
// current line the way a terminal does, so progress bars collapse to their last state.
//
// Why not an ANSI-to-HTML library: the well-kept ones (ansi_up, anser, ansi-to-html) work on JS
// strings, so they cannot say at which byte a line starts, do not rewrite lines on CR, and emit
// inline styles for 256-colour and truecolour output, which a strict CSP forbids. Here every style
// is a class from a fixed set (see ansi-palette.ts).

/** A stretch of one line in one style; `cls` is a space-separated class list ('' for default). */
export interface Run {
  cls: string;
  text: string;
}

export interface Line {
  /** Absolute offset of the line's first byte: its id. */
  start: number;
  /** Absolute offset just past its last byte (its newline included). */
  end: number;
  runs: Run[];
}

/** Lines longer than this many bytes are broken, so one line never holds unbounded memory. */
export const MAX_LINE_BYTES = 8192;
// Sequences longer than this are abandoned (their bytes dropped), so a stray ESC cannot hide output.
const MAX_CSI_BYTES = 64;
const MAX_STRING_BYTES = 4096;
const TAB = 8;

// A style packed into one small integer: fg (9 bits, 256 = default), bg (9 bits), flags.
const DEFAULT_COLOUR = 256;
const BOLD = 1 << 18;
const DIM = 1 << 19;
const ITALIC = 1 << 20;
const UNDERLINE = 1 << 21;
const INVERSE = 1 << 22;
const STRIKE = 1 << 23;
const DEFAULT_STYLE = DEFAULT_COLOUR | (DEFAULT_COLOUR << 9);

const fgOf = (s: number) => s & 0x1ff;
const bgOf = (s: number) => (s >> 9) & 0x1ff;
const withFg = (s: number, c: number) => (s & ~0x1ff) | c;
const withBg = (s: number, c: number) => (s & ~(0x1ff << 9)) | (c << 9);

/** The class list of a style. Inverse swaps the colours; "fr"/"br" are the page's own colours swapped. */
export function styleClasses(style: number): string {
  let fg = fgOf(style);
  let bg = bgOf(style);
  const out: string[] = [];
  if (style & INVERSE) {
    out.push(bg === DEFAULT_COLOUR ? 'fr' : `f${bg}`, fg === DEFAULT_COLOUR ? 'br' : `b${fg}`);
    fg = bg = DEFAULT_COLOUR;
  } else {
    if (fg !== DEFAULT_COLOUR) out.push(`f${fg}`);
    if (bg !== DEFAULT_COLOUR) out.push(`b${bg}`);
  }
  if (style & BOLD) out.push('sb');
  if (style & DIM) out.push('sd');
  if (style & ITALIC) out.push('si');
  if (style & UNDERLINE) out.push('su');
  if (style & STRIKE) out.push('ss');
  return out.join(' ');
}

/** The xterm 256-colour index nearest to an RGB colour (cube or grey ramp). */
export function nearest256(r: number, g: number, b: number): number {
  const level = (v: number) => (v < 48 ? 0 : v < 115 ? 1 : Math.min(5, Math.floor((v - 35) / 40)));
  const cubeValue = (l: number) => (l === 0 ? 0 : 55 + l * 40);
  const [lr, lg, lb] = [level(r), level(g), level(b)];
  const cube = 16 + 36 * lr + 6 * lg + lb;
  const cubeDist = (cubeValue(lr) - r) ** 2 + (cubeValue(lg) - g) ** 2 + (cubeValue(lb) - b) ** 2;
  const avg = (r + g + b) / 3;
  const grey = avg > 238 ? 23 : Math.max(0, Math.round((avg - 8) / 10));
  const gv = 8 + grey * 10;
  const greyDist = (gv - r) ** 2 + (gv - g) ** 2 + (gv - b) ** 2;
  return greyDist < cubeDist ? 232 + grey : cube;
}

/** Applies the parameters of one SGR sequence (`ESC [ ... m`) to a style. */
export function applySgr(style: number, params: readonly number[]): number {
  if (params.length === 0) return DEFAULT_STYLE;
  let s = style;
  for (let i = 0; i < params.length; i++) {
    const p = params[i]!;
    if (p === 0) s = DEFAULT_STYLE;
    else if (p === 1) s |= BOLD;
    else if (p === 2) s |= DIM;
    else if (p === 3) s |= ITALIC;
    else if (p === 4) s |= UNDERLINE;
    else if (p === 7) s |= INVERSE;
    else if (p === 9) s |= STRIKE;
    else if (p === 22) s &= ~(BOLD | DIM);
    else if (p === 23) s &= ~ITALIC;
    else if (p === 24) s &= ~UNDERLINE;
    else if (p === 27) s &= ~INVERSE;
    else if (p === 29) s &= ~STRIKE;
    else if (p >= 30 && p <= 37) s = withFg(s, p - 30);
    else if (p === 39) s = withFg(s, DEFAULT_COLOUR);
    else if (p >= 40 && p <= 47) s = withBg(s, p - 40);
    else if (p === 49) s = withBg(s, DEFAULT_COLOUR);
    else if (p >= 90 && p <= 97) s = withFg(s, p - 90 + 8);
    else if (p >= 100 && p <= 107) s = withBg(s, p - 100 + 8);
    else if (p === 38 || p === 48) {
      const set = p === 38 ? withFg : withBg;
      const mode = params[i + 1];
      if (mode === 5 && i + 2 < params.length) {
        const n = params[i + 2]!;
        if (n <= 255) s = set(s, n);
        i += 2;
      } else if (mode === 2 && i + 4 < params.length) {
        const [r, g, b] = [params[i + 2]!, params[i + 3]!, params[i + 4]!];
        if (r <= 255 && g <= 255 && b <= 255) s = set(s, nearest256(r, g, b));
        i += 4;
      } else {
        // A malformed extended colour: the rest of the sequence cannot be read reliably.
        break;
      }
    }
    // Anything else (blink, fonts, ...) has no rendering here.
  }
  return s;
}

/** One-character strings of the bytes 0-127. */
const ASCII = Array.from({ length: 128 }, (_, b) => String.fromCharCode(b));

const enum P {
  Ground,
  Esc,
  EscIntermediate,
  Csi,
  /** OSC, DCS, SOS, PM or APC: a string ended by BEL or ST, whose content is dropped. */
  Str,
  StrEsc,
}

/** The parser and terminal-line state a rendering can resume from (see `ConsoleRenderer.state`). */
export interface RendererState {
  style: number;
}

export class ConsoleRenderer {
  // UTF-8 decoder (the WHATWG algorithm, so invalid input decodes the same however it is split).
  private needed = 0;
  private seen = 0;
  private cp = 0;
  private lower = 0x80;
  private upper = 0xbf;
  // Escape-sequence parser.
  private p = P.Ground;
  private seqBytes = 0;
  private csiParams = '';
  // The current line: one cell per code point, with a cursor for CR, BS and cursor moves.
  private chars: string[] = [];
  private styles: number[] = [];
  private cursor = 0;
  private style = DEFAULT_STYLE;
  private lineStartStyle = DEFAULT_STYLE;
  private lineStart: number;
  private pos: number;
  private out: Line[] = [];

  /** Renders bytes that start at absolute offset `start`, which is taken as the start of a line. */
  constructor(start = 0, state?: RendererState) {
    this.lineStart = start;
    this.pos = start;
    if (state) this.style = this.lineStartStyle = state.style;
  }

  /** Absolute offset of the next byte to be pushed. */
  get offset(): number {
    return this.pos;
  }

  /** Where the unfinished line starts: rendering anew from here (with `state`) continues this one. */
  get resumeOffset(): number {
    return this.lineStart;
  }

  /** The style in force at the start of the unfinished line. */
  get state(): RendererState {
    return { style: this.lineStartStyle };
  }

  /** Consumes bytes and returns the lines they completed, in order. */
  push(bytes: Uint8Array): Line[] {
    const n = bytes.length;
    let i = 0;
    while (i < n) {
      // Runs of printable ASCII in plain text, most of any console, skip the byte-at-a-time path;
      // a run stops where byte() would break the line.
      const room = MAX_LINE_BYTES - (this.pos - this.lineStart);
      if (this.needed === 0 && this.p === P.Ground && room > 0) {
        const stop = Math.min(n, i + room);
        let j = i;
        while (j < stop && bytes[j]! >= 0x20 && bytes[j]! <= 0x7e) j++;
        if (j > i) {
          this.putAscii(bytes, i, j);
          i = j;
          continue;
        }
      }
      this.byte(bytes[i++]!);
    }
    const done = this.out;
    this.out = [];
    return done;
  }

  /** The unfinished line (bytes since the last line ended), or null when there are none. */
  pending(): Line | null {
    if (this.pos === this.lineStart) return null;
    return { start: this.lineStart, end: this.pos, runs: this.runs() };
  }

  private byte(b: number): void {
    const at = this.pos++;
    if (this.needed === 0) {
      // A long line is broken only between characters and outside escape sequences.
      if (this.p === P.Ground && at - this.lineStart >= MAX_LINE_BYTES) this.endLine(at);
      if (b <= 0x7f) return this.codePoint(b);
      if (b >= 0xc2 && b <= 0xdf) {
        this.needed = 1;
        this.cp = b & 0x1f;
      } else if (b >= 0xe0 && b <= 0xef) {
        if (b === 0xe0) this.lower = 0xa0;
        if (b === 0xed) this.upper = 0x9f;
        this.needed = 2;
        this.cp = b & 0xf;
      } else if (b >= 0xf0 && b <= 0xf4) {
        if (b === 0xf0) this.lower = 0x90;
        if (b === 0xf4) this.upper = 0x8f;
        this.needed = 3;
        this.cp = b & 0x7;
      } else {
        this.codePoint(0xfffd);
      }
      return;
    }
    if (b < this.lower || b > this.upper) {
      this.needed = this.seen = this.cp = 0;
      this.lower = 0x80;
      this.upper = 0xbf;
      this.codePoint(0xfffd);
      // The byte that broke the sequence starts a new one.
      this.pos--;
      this.byte(b);
      return;
    }
    this.lower = 0x80;
    this.upper = 0xbf;
    this.cp = (this.cp << 6) | (b & 0x3f);
    if (++this.seen === this.needed) {
      const cp = this.cp;
      this.needed = this.seen = this.cp = 0;
      this.codePoint(cp);
    }
  }

  private codePoint(c: number): void {
    switch (this.p) {
      case P.Ground:
        return this.ground(c);
      case P.Esc:
        if (c < 0x20) return this.abort(c);
        if (c === 0x5b) return this.enter(P.Csi);
        // OSC ], DCS P, SOS X, PM ^, APC _
        if (c === 0x5d || c === 0x50 || c === 0x58 || c === 0x5e || c === 0x5f) return this.enter(P.Str);
        if (c >= 0x20 && c <= 0x2f) return this.enter(P.EscIntermediate);
        this.p = P.Ground;
        return;
      case P.EscIntermediate:
        if (c < 0x20) return this.abort(c);
        if (c >= 0x20 && c <= 0x2f && ++this.seqBytes < MAX_CSI_BYTES) return;
        this.p = P.Ground;
        return;
      case P.Csi:
        if (c < 0x20) return this.abort(c);
        if (c >= 0x40 && c <= 0x7e) {
          this.p = P.Ground;
          return this.csi(c);
        }
        if (c >= 0x20 && c <= 0x3f && ++this.seqBytes < MAX_CSI_BYTES) {
          this.csiParams += String.fromCharCode(c);
          return;
        }
        this.p = P.Ground;
        return;
      case P.Str:
        if (c === 0x07) this.p = P.Ground;
        else if (c === 0x1b) this.p = P.StrEsc;
        // An unterminated string ends at the line's end, so it cannot swallow the rest of the log.
        else if (c === 0x0a || ++this.seqBytes >= MAX_STRING_BYTES) this.abort(c);
        return;
      case P.StrEsc:
        if (c === 0x5c) this.p = P.Ground;
        else if (c === 0x0a) this.abort(c);
        else this.p = P.Str;
        return;
    }
  }

  private enter(p: P): void {
    this.p = p;
    this.seqBytes = 0;
    this.csiParams = '';
  }

  /** Abandons the sequence; a control character that broke it still takes effect. */
  private abort(c: number): void {
    this.p = P.Ground;
    if (c < 0x20) this.ground(c);
  }

  private ground(c: number): void {
    if (c >= 0x20 && c !== 0x7f && (c < 0x80 || c > 0x9f)) return this.put(String.fromCodePoint(c));
    switch (c) {
      case 0x0a:
        return this.endLine(this.pos);
      case 0x0d:
        this.cursor = 0;
        return;
      case 0x08:
        if (this.cursor > 0) this.cursor--;
        return;
      case 0x09: {
        const to = Math.min(MAX_LINE_BYTES, (Math.floor(this.cursor / TAB) + 1) * TAB);
        while (this.chars.length < to) this.cell(this.chars.length, ' ', this.style);
        this.cursor = to;
        return;
      }
      case 0x1b:
        this.p = P.Esc;
        return;
      default:
        // C1 controls show as replacement characters; other C0 controls (BEL, NUL, ...) do nothing.
        if (c >= 0x80) this.put('\ufffd');
    }
  }

  /** put() of each byte of bytes[from, to), all printable ASCII. */
  private putAscii(bytes: Uint8Array, from: number, to: number): void {
    const { chars, styles, style } = this;
    while (chars.length < this.cursor) this.cell(chars.length, ' ', DEFAULT_STYLE);
    let c = this.cursor;
    for (let k = from; k < to; k++, c++) {
      chars[c] = ASCII[bytes[k]!]!;
      styles[c] = style;
    }
    this.cursor = c;
    this.pos += to - from;
  }

  private put(ch: string): void {
    while (this.chars.length < this.cursor) this.cell(this.chars.length, ' ', DEFAULT_STYLE);
    this.cell(this.cursor, ch, this.style);
    this.cursor++;
  }

  private cell(i: number, ch: string, style: number): void {
    this.chars[i] = ch;
    this.styles[i] = style;
  }

  private csi(final: number): void {
    const text = this.csiParams;
    // Private sequences (`ESC [ ? ...`, `ESC [ > ...`) change terminal modes: nothing to render.
    if (/[<=>?]/.test(text)) return;
    const params = text === '' ? [] : text.split(';').map((p) => (/^\d{1,6}$/.test(p) ? Number(p) : 0));
    const n = Math.max(1, params[0] ?? 1);
    switch (final) {
      case 0x6d: // m: SGR
        if (/^[\d;]*$/.test(text)) this.style = applySgr(this.style, params);
        return;
      case 0x4b: {
        // K: erase in line
        const mode = params[0] ?? 0;
        if (mode === 0) {
          this.chars.length = Math.min(this.chars.length, this.cursor);
          this.styles.length = this.chars.length;
        } else if (mode === 1) {
          for (let i = 0; i <= this.cursor && i < this.chars.length; i++) this.cell(i, ' ', DEFAULT_STYLE);
        } else if (mode === 2) {
          this.chars.length = this.styles.length = 0;
        }
        return;
      }
      case 0x44: // D: cursor back
        this.cursor = Math.max(0, this.cursor - n);
        return;
      case 0x43: // C: cursor forward
        this.cursor = Math.min(MAX_LINE_BYTES, this.cursor + n);
        return;
      case 0x47: // G: cursor to column
        this.cursor = Math.min(MAX_LINE_BYTES, n - 1);
        return;
    }
  }

  private endLine(end: number): void {
    this.out.push({ start: this.lineStart, end, runs: this.runs() });
    this.lineStart = end;
    this.lineStartStyle = this.style;
    this.chars = [];
    this.styles = [];
    this.cursor = 0;
  }

  private runs(): Run[] {
    const runs: Run[] = [];
    let i = 0;
    while (i < this.chars.length) {
      const s = this.styles[i]!;
      let j = i + 1;
      while (j < this.chars.length && this.styles[j] === s) j++;
      const text = this.chars.slice(i, j).join('');
      const cls = styleClasses(s);
      const last = runs[runs.length - 1];
      // Different styles can share classes (e.g. a colour under inverse); keep runs canonical.
      if (last && last.cls === cls) last.text += text;
      else runs.push({ cls, text });
      i = j;
    }
    return runs;
  }
}

/** The plain text of a line. */
export function lineText(line: Line): string {
  return line.runs.map((r) => r.text).join('');
}

/** Renders a whole byte string: its complete lines, then the unfinished one if any. */
export function renderAll(bytes: Uint8Array, start = 0): Line[] {
  const r = new ConsoleRenderer(start);
  const lines = r.push(bytes);
  const p = r.pending();
  if (p) lines.push(p);
  return lines;
}
