// The failure convention of all five CLIs: a usage error exits 2, a runtime failure exits 1, each
// with one line `<program>: <reason>` on stderr and no stack trace. A command that must exit with
// another code (tml's outcome codes) throws ExitWith. Stack traces only with TML_DEBUG=1.

export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

/** The command line was wrong: a flag, an argument, a missing setting. Exit 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** Ends the program with `code`, after `message` (one line) if there is one. */
export class ExitWith extends Error {
  override name = 'ExitWith';
  constructor(
    readonly code: number,
    message = '',
  ) {
    super(message);
  }
}

/** One line of text: line breaks and runs of white space around them become one space. */
export function oneLine(text: string): string {
  return text.replace(/\s*[\r\n]+\s*/g, ' ').trim();
}

/** The exit code and the stderr line (or null) for an error that ended a command. */
export function failureOf(program: string, err: unknown): { code: number; line: string | null } {
  if (err instanceof ExitWith)
    return { code: err.code, line: err.message ? `${program}: ${oneLine(err.message)}` : null };
  const message = err instanceof Error ? err.message : String(err);
  const code = err instanceof UsageError ? EXIT.usage : EXIT.failure;
  return { code, line: `${program}: ${oneLine(message) || 'failed'}` };
}

/**
 * Runs a CLI's main function: exits 0 when it resolves (or with the number it resolves to),
 * otherwise as failureOf says.
 */
export function runCli(program: string, main: () => Promise<number | void>): void {
  main().then(
    (code) => process.exit(code ?? EXIT.ok),
    (err: unknown) => {
      const { code, line } = failureOf(program, err);
      if (line !== null) process.stderr.write(`${line}\n`);
      if (process.env['TML_DEBUG'] === '1' && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
      process.exit(code);
    },
  );
}

const camelCase = (name: string) => name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/**
 * yargs' complaint about what was typed, said once and plainly: a mistyped command with the one
 * yargs recommends, each unknown flag once (yargs also lists its camelCase spelling: `tag-confg,
 * tagConfg`), and a stray word as an unexpected argument. `words` are the arguments as typed.
 */
export function typingMistake(message: string, words: readonly string[]): string {
  const guess = /^Did you mean (\S+)\?$/.exec(message);
  if (guess) return `unknown command, did you mean ${guess[1]}?`;
  const unknown = /^Unknown arguments?: (.*)$/.exec(message);
  if (!unknown) return message;
  const names = unknown[1]!.split(', ');
  const typedAsFlag = (n: string) =>
    words.some((w) => w === `--${n}` || w.startsWith(`--${n}=`) || w === `-${n}` || w === `--no-${n}`);
  const flags = names.filter(typedAsFlag);
  const spellings = new Set(flags.map(camelCase));
  const strays = names.filter((n) => !typedAsFlag(n) && !spellings.has(n));
  return [
    ...flags.map((f) => `unknown option ${f.length === 1 ? '-' : '--'}${f}`),
    ...strays.map((s) => `unexpected argument "${s}"`),
  ].join('; ');
}
