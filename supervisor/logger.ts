// Line logger for the supervisor: one human-readable line per event on stderr, filtered by level.

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export type Log = (level: LogLevel, line: string) => void;

export function isLogLevel(value: string): value is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(value);
}

export function createLogger(
  minLevel: LogLevel,
  write: (line: string) => void = (line) => process.stderr.write(line + '\n'),
): Log {
  const min = LOG_LEVELS.indexOf(minLevel);
  return (level, line) => {
    if (LOG_LEVELS.indexOf(level) < min) return;
    write(`${new Date().toISOString()} ${level.padEnd(5)} ${line}`);
  };
}
