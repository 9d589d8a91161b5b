// The one logger of every component: levels, one line per record, control characters escaped so
// that no logged text (a job's sub-state, a peer's message) can forge a record, and an optional
// JSON form for operators' log collectors. Callers log names and counts, never parameter values:
// nothing here knows which strings are secret.
//
// The default sink is stderr, the only I/O in protocol/: a log format is of no use without one.

import { isOneOf } from './validation.js';

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_FORMATS = ['text', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export function isLogLevel(value: unknown): value is LogLevel {
  return isOneOf(value, LOG_LEVELS);
}

export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
  log(level: LogLevel, message: string): void;
  /** A logger whose records start with `prefix: ` (e.g. a job id), at the same level and sink. */
  child(prefix: string): Logger;
}

export interface LoggerOptions {
  level?: LogLevel;
  format?: LogFormat;
  /** Receives each record, newline included. Default: stderr. */
  write?: (record: string) => void;
  /** Leave out the timestamp (journald stamps lines itself). Default: when JOURNAL_STREAM is set. */
  timestamps?: boolean;
  /** Clock for timestamps; tests pass a fixed one. */
  now?: () => Date;
}

const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

/** `text` with every control character (newlines too) written as a visible escape. */
export function escapeLogText(text: string): string {
  return text.replace(CONTROL, (c) => {
    if (c === '\n') return '\\n';
    if (c === '\r') return '\\r';
    if (c === '\t') return '\\t';
    return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
  });
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const min = LOG_LEVELS.indexOf(opts.level ?? 'info');
  const format = opts.format ?? 'text';
  const write = opts.write ?? ((record: string) => void process.stderr.write(record));
  const stamp = opts.timestamps ?? !process.env['JOURNAL_STREAM'];
  const now = opts.now ?? (() => new Date());
  const make = (prefix: string): Logger => {
    const log = (level: LogLevel, message: string): void => {
      if (LOG_LEVELS.indexOf(level) < min) return;
      const text = prefix + message;
      if (format === 'json') {
        // JSON.stringify escapes control characters itself.
        write(`${JSON.stringify({ time: now().toISOString(), level, message: text })}\n`);
        return;
      }
      write(`${stamp ? `${now().toISOString()} ` : ''}${level.padEnd(5)} ${escapeLogText(text)}\n`);
    };
    return {
      log,
      debug: (m) => log('debug', m),
      info: (m) => log('info', m),
      warn: (m) => log('warn', m),
      error: (m) => log('error', m),
      child: (p) => make(`${prefix}${p}: `),
    };
  };
  return make('');
}

/** A logger that drops everything (libraries used without one). */
export const silentLogger: Logger = createLogger({ write: () => {}, level: 'error' });

/**
 * A view of `logger` (children included) that writes `from` records at `to`: the routine records
 * of a part whose owner logs a summary of its own (a host's control socket, say).
 */
export function demoted(logger: Logger, from: LogLevel, to: LogLevel): Logger {
  const log = (level: LogLevel, message: string): void => logger.log(level === from ? to : level, message);
  return {
    log,
    debug: (m) => log('debug', m),
    info: (m) => log('info', m),
    warn: (m) => log('warn', m),
    error: (m) => log('error', m),
    child: (p) => demoted(logger.child(p), from, to),
  };
}
