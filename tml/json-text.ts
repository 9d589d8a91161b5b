// JSON the user typed (`--parameters`, `--parameters-file`): where a syntax error is and why, in
// words that never quote the text (it holds secrets). V8's own messages quote it ("Unexpected
// token 'h', "hunter2" is not valid JSON") and differ between Node versions, so the position and
// the reason come from this scanner, which accepts exactly what JSON.parse accepts.

import { UsageError } from '../protocol/cli.js';

export interface JsonSyntaxError {
  /** Index of the offending character (text.length at the end of input). */
  offset: number;
  line: number;
  column: number;
  reason: string;
}

const WS = new Set([' ', '\t', '\n', '\r']);
const ESCAPES = new Set(['"', '\\', '/', 'b', 'f', 'n', 'r', 't']);
const HEX = /^[0-9a-fA-F]{4}$/;
const EXPECTED_VALUE =
  'expected a value (a string in double quotes, a number, true, false, null, an object or an array)';

function at(text: string, offset: number, reason: string): JsonSyntaxError {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text[i] === '\n') {
      line++;
      lineStart = i + 1;
    }
  }
  return { offset, line, column: offset - lineStart + 1, reason };
}

/** The first syntax error of `text` as JSON, or null when JSON.parse takes it. Iterative: no depth limit. */
export function findJsonSyntaxError(text: string): JsonSyntaxError | null {
  const n = text.length;
  const stack: Array<'object' | 'array'> = [];
  let i = 0;
  const skipWs = () => {
    while (i < n && WS.has(text[i]!)) i++;
  };

  /** Scans a string starting at its opening quote; returns an error reason or null. */
  const scanString = (): string | null => {
    i++;
    for (;;) {
      if (i >= n) return 'unterminated string (no closing double quote)';
      const c = text[i]!;
      if (c === '"') {
        i++;
        return null;
      }
      if (c === '\\') {
        const e = text[i + 1];
        if (e === 'u') {
          if (!HEX.test(text.slice(i + 2, i + 6))) return 'invalid \\u escape in a string (needs 4 hex digits)';
          i += 6;
        } else if (e !== undefined && ESCAPES.has(e)) {
          i += 2;
        } else {
          return e === undefined ? 'unterminated string (no closing double quote)' : 'invalid escape in a string';
        }
        continue;
      }
      if (c.charCodeAt(0) < 0x20) return 'a control character in a string (write it as an escape, e.g. \\n)';
      i++;
    }
  };

  const digits = (): boolean => {
    const start = i;
    while (i < n && text[i]! >= '0' && text[i]! <= '9') i++;
    return i > start;
  };

  const scanNumber = (): string | null => {
    if (text[i] === '-') i++;
    if (text[i] === '0') i++;
    else if (!(text[i]! >= '1' && text[i]! <= '9') || !digits()) return 'invalid number';
    if (text[i] === '.') {
      i++;
      if (!digits()) return 'invalid number (digits must follow the decimal point)';
    }
    if (text[i] === 'e' || text[i] === 'E') {
      i++;
      if (text[i] === '+' || text[i] === '-') i++;
      if (!digits()) return 'invalid number (digits must follow the exponent)';
    }
    return null;
  };

  let state: 'value' | 'key' | 'after' = 'value';
  for (;;) {
    skipWs();
    if (state === 'value') {
      if (i >= n) return at(text, i, `unexpected end of input: ${EXPECTED_VALUE}`);
      const c = text[i]!;
      if (c === '{') {
        i++;
        skipWs();
        if (text[i] === '}') {
          i++;
          state = 'after';
        } else {
          stack.push('object');
          state = 'key';
        }
        continue;
      }
      if (c === '[') {
        i++;
        skipWs();
        if (text[i] === ']') {
          i++;
          state = 'after';
        } else {
          stack.push('array');
        }
        continue;
      }
      const start = i;
      let reason: string | null;
      if (c === '"') reason = scanString();
      else if (c === '-' || (c >= '0' && c <= '9')) reason = scanNumber();
      else {
        const word = ['true', 'false', 'null'].find((w) => text.startsWith(w, i));
        if (word) i += word.length;
        reason = word ? null : EXPECTED_VALUE;
      }
      if (reason !== null) return at(text, reason === EXPECTED_VALUE ? start : i, reason);
      state = 'after';
      continue;
    }
    if (state === 'key') {
      if (i >= n) return at(text, i, 'unexpected end of input: expected a property name in double quotes');
      if (text[i] === '}') return at(text, i, "a trailing comma before '}'");
      if (text[i] !== '"') return at(text, i, 'expected a property name in double quotes');
      const reason = scanString();
      if (reason !== null) return at(text, i, reason);
      skipWs();
      if (text[i] !== ':') return at(text, i, "expected ':' after a property name");
      i++;
      state = 'value';
      continue;
    }
    const top = stack.at(-1);
    if (top === undefined) return i < n ? at(text, i, 'unexpected text after the JSON value') : null;
    const close = top === 'object' ? '}' : ']';
    if (i >= n) return at(text, i, `unexpected end of input: expected ',' or '${close}'`);
    if (text[i] === close) {
      i++;
      stack.pop();
      continue;
    }
    if (text[i] !== ',') return at(text, i, `expected ',' or '${close}'`);
    i++;
    if (top === 'object') {
      state = 'key';
      continue;
    }
    skipWs();
    if (text[i] === ']') return at(text, i, "a trailing comma before ']'");
    state = 'value';
  }
}

/** JSON.parse, with a usage error that names the flag, the line and column and the reason. */
export function parseJsonText(text: string, flag: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    const e = findJsonSyntaxError(text);
    throw new UsageError(
      e ? `${flag}: invalid JSON at line ${e.line}, column ${e.column}: ${e.reason}` : `${flag}: invalid JSON`,
    );
  }
}

export { typeName } from '../protocol/validation.js';
