// The supervisor's parts log through a function, `log(level, line)`, handed down from the CLI: a
// view of the one logger (protocol/log.ts), so every record has its format, its escaping of control
// characters and its optional JSON form. Nothing here formats or writes.

import type { Logger, LogLevel } from '../protocol/log.js';

export type { LogLevel };

export type Log = (level: LogLevel, line: string) => void;

/** The log function that writes through `logger`. */
export function logTo(logger: Logger): Log {
  return (level, line) => logger.log(level, line);
}
