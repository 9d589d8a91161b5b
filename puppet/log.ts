// Human-readable, one line per event, filtered by level. Callers pass names and counts, never
// parameter values: nothing here knows which strings are secret, so none may reach it.

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export class Log {
  readonly #min: number;
  // journald stamps lines itself; elsewhere a timestamp makes a log readable afterwards
  readonly #stamp = !process.env['JOURNAL_STREAM'];

  constructor(
    level: LogLevel = 'info',
    private readonly write: (line: string) => void = (line) => process.stderr.write(line),
  ) {
    this.#min = LOG_LEVELS.indexOf(level);
  }

  log(level: LogLevel, message: string): void {
    if (LOG_LEVELS.indexOf(level) < this.#min) return;
    const text = message.replace(/[\r\n]+/g, ' ');
    this.write(this.#stamp ? `${new Date().toISOString()} ${level}: ${text}\n` : `${level}: ${text}\n`);
  }

  debug(message: string): void {
    this.log('debug', message);
  }
  info(message: string): void {
    this.log('info', message);
  }
  warn(message: string): void {
    this.log('warn', message);
  }
  error(message: string): void {
    this.log('error', message);
  }
}
