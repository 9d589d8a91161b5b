// The validation kit: every parser of untrusted input (REST bodies, WebSocket messages) builds on
// these checks, which throw ValidationError with a one-line message naming the field.

export class ValidationError extends Error {
  override name = 'ValidationError';
}

/**
 * The one result convention. Parsers of untrusted input throw ValidationError (or a subclass
 * carrying more context); a caller that wants a value instead of an exception wraps the call in
 * attempt(). Any other exception is a bug and passes through.
 */
export type Result<T, E extends ValidationError = ValidationError> = { ok: true; value: T } | { ok: false; error: E };

export function attempt<T>(parse: () => T): Result<T> {
  try {
    return { ok: true, value: parse() };
  } catch (err) {
    if (err instanceof ValidationError) return { ok: false, error: err };
    throw err;
  }
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const IMAGE_ID_RE = /^[0-9a-f]{64}$/;

export function isUuid(value: unknown): value is string {
  return typeof value === 'string' && UUID_RE.test(value);
}

export function isImageId(value: unknown): value is string {
  return typeof value === 'string' && IMAGE_ID_RE.test(value);
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** "a number", "an array", "null": what a value is, never what it says (it may be a secret). */
export function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  const t = typeof v;
  return t === 'object' ? 'an object' : t === 'undefined' ? 'nothing' : `a ${t}`;
}

export function expectObject(value: unknown, where: string): Record<string, unknown> {
  if (!isObject(value)) throw new ValidationError(`${where} must be an object`);
  return value;
}

export function expectString(value: unknown, where: string): string {
  if (typeof value !== 'string') throw new ValidationError(`${where} must be a string`);
  return value;
}

export function expectNullableString(value: unknown, where: string): string | null {
  if (value === null) return null;
  return expectString(value, where);
}

export function rejectUnknownKeys(obj: Record<string, unknown>, allowed: readonly string[], where: string): void {
  for (const key of Object.keys(obj)) {
    if (!allowed.includes(key)) throw new ValidationError(`${where} has unknown field "${key}"`);
  }
}

/** Whether `value` is one of a closed union's members (`EXECUTION_STATES`, `LOG_LEVELS`, ...). */
export function isOneOf<T extends string>(value: unknown, options: readonly T[]): value is T {
  return typeof value === 'string' && (options as readonly string[]).includes(value);
}

export function oneOf<T extends string>(value: unknown, options: readonly T[], where: string): T {
  if (!isOneOf(value, options)) {
    throw new ValidationError(`${where} must be one of ${options.join(', ')}`);
  }
  return value as T;
}

export function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new ValidationError(`${what} is not valid JSON`);
  }
}
