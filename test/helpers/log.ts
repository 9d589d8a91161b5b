// Loggers for tests: the one logger (protocol/log.ts), its records handed to the test as level and
// message, so a test reads what a part logged without parsing the text format.
import { createLogger, type Logger, type LogLevel } from '../../protocol/log.js';

/** A logger at level debug that calls `onRecord` for each record (child prefixes included). */
export function recordingLogger(onRecord: (level: LogLevel, message: string) => void): Logger {
  return createLogger({
    level: 'debug',
    format: 'json',
    write: (record) => {
      const { level, message } = JSON.parse(record) as { level: LogLevel; message: string };
      onRecord(level, message);
    },
  });
}
