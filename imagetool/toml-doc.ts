import { parse, TomlError } from 'smol-toml';
import { isObject, ValidationError } from '../protocol/validation.js';

// What manifests and spec files share: TOML parsed into tables, and the checks on its values. Each
// throws ValidationError with a one-line message naming the field.

export type Table = Record<string, unknown>;

/** smol-toml returns dates as Date objects: values, not tables. */
export function isTable(v: unknown): v is Table {
  return isObject(v) && !(v instanceof Date);
}

/** A TOML value as an error message shows it: numbers as they are, anything else by its type. */
export function describeValue(v: unknown): string {
  if (typeof v === 'number' || typeof v === 'bigint') return String(v);
  if (typeof v === 'string') return `the string ${JSON.stringify(v.slice(0, 40))}`;
  if (typeof v === 'boolean') return `the boolean ${v}`;
  if (Array.isArray(v)) return 'an array';
  if (v instanceof Date) return 'a date';
  return 'a table';
}

/**
 * TOML text as a table. Integers beyond 2^53 stay bigints, so a caller can refuse them instead of
 * reading a rounded number; a syntax error names its line and column and the parser's reason.
 */
export function parseToml(text: string): Table {
  try {
    return parse(text, { integersAsBigInt: 'asNeeded' });
  } catch (err) {
    if (!(err instanceof TomlError)) throw err;
    const reason = err.message.split('\n')[0]!.replace(/^Invalid TOML document: /, '');
    throw new ValidationError(`bad TOML at line ${err.line}, column ${err.column}: ${reason}`);
  }
}

/** A table of string values (attributes); absent is empty. */
export function stringTable(v: unknown, where: string): Record<string, string> {
  if (v === undefined) return {};
  if (!isTable(v)) throw new ValidationError(`${where} must be a table of strings, got ${describeValue(v)}`);
  // fromEntries defines own properties, so even a key named __proto__ stays data.
  return Object.fromEntries(
    Object.entries(v).map(([k, val]) => {
      if (typeof val !== 'string')
        throw new ValidationError(`${where} ${JSON.stringify(k)} must be a string, got ${describeValue(val)}`);
      return [k, val];
    }),
  );
}

/** An integer that is exact as a JS number (beyond 2^53 smol-toml gives a bigint). */
export function integer(v: unknown, what: string): number {
  if (v === undefined) throw new ValidationError(`missing ${what}`);
  if (typeof v === 'bigint') throw new ValidationError(`${what} ${v} is too large`);
  if (typeof v !== 'number' || !Number.isInteger(v))
    throw new ValidationError(`${what} must be an integer, got ${describeValue(v)}`);
  return v;
}
