// Durations on the command line: `90` (seconds), `250ms`, `90s`, `5m`, `2h`, `1d`.

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export class DurationError extends Error {
  override name = 'DurationError';
}

/** Milliseconds in a duration string; throws DurationError with a one-line message. */
export function parseDuration(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(text);
  if (!m) throw new DurationError(`invalid duration "${text}" (examples: 90, 90s, 5m, 2h, 1d)`);
  const ms = Number(m[1]) * UNITS[m[2] ?? 's']!;
  if (!Number.isFinite(ms) || ms > Number.MAX_SAFE_INTEGER) throw new DurationError(`duration "${text}" is too large`);
  return Math.round(ms);
}
