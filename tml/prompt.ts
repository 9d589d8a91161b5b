// Asking the user for a name and a password. Prompts go to stderr, so stdout carries only results;
// the password is read from the terminal with echo off, or one line from stdin (--password-stdin).

import { ExitWith, UsageError } from '../protocol/cli.js';

/** The input a secret is typed on: a terminal in raw mode (process.stdin when it is a TTY). */
export interface RawInput {
  setRawMode(mode: boolean): unknown;
  on(event: 'data', listener: (chunk: Buffer | string) => void): unknown;
  off(event: 'data', listener: (chunk: Buffer | string) => void): unknown;
  resume(): unknown;
  pause(): unknown;
}

export interface Output {
  write(text: string): unknown;
}

/** Longest name or password taken (a paste of something else is not a password). */
export const MAX_SECRET_LENGTH = 4096;

/**
 * Reads one line without echo: Enter ends it, Backspace removes a character, Ctrl-C interrupts
 * (exit 130), Ctrl-D on an empty line is the end of input. Nothing typed is ever written out.
 */
export function readSecret(prompt: string, input: RawInput, output: Output): Promise<string> {
  // Echo goes off before the prompt shows: what is typed as soon as the prompt appears is never echoed.
  input.setRawMode(true);
  output.write(prompt);
  input.resume();
  let text = '';
  return new Promise((resolve, reject) => {
    const done = (err: Error | null) => {
      input.off('data', onData);
      input.setRawMode(false);
      input.pause();
      output.write('\n');
      if (err) reject(err);
      else resolve(text);
    };
    const onData = (chunk: Buffer | string) => {
      for (const c of chunk.toString('utf8')) {
        if (c === '\r' || c === '\n') return done(null);
        if (c === '\u0003') return done(new ExitWith(130, 'interrupted'));
        if (c === '\u0004') {
          if (text === '') return done(new UsageError('no password given (end of input)'));
          continue;
        }
        if (c === '\u007f' || c === '\b') {
          text = [...text].slice(0, -1).join('');
          continue;
        }
        if (c === '\u0015') {
          text = '';
          continue;
        }
        if (c < ' ') continue;
        if (text.length >= MAX_SECRET_LENGTH)
          return done(new UsageError(`longer than ${MAX_SECRET_LENGTH} characters`));
        text += c;
      }
    };
    input.on('data', onData);
  });
}

/** Reads a line with echo (the user name), from the terminal. */
export async function readLine(prompt: string): Promise<string> {
  const { createInterface } = await import('node:readline/promises');
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  try {
    return (await rl.question(prompt)).trim();
  } finally {
    rl.close();
  }
}

/** The first line of stdin (--password-stdin), without its line break. */
export async function readFirstLine(stream: AsyncIterable<Buffer | string>, what: string): Promise<string> {
  let text = '';
  for await (const chunk of stream) {
    text += chunk.toString();
    const nl = text.search(/\r?\n/);
    if (nl >= 0) return text.slice(0, nl);
    if (text.length > MAX_SECRET_LENGTH)
      throw new UsageError(`${what}: the first line is longer than ${MAX_SECRET_LENGTH}`);
  }
  if (text === '') throw new UsageError(`${what}: stdin is empty`);
  return text;
}
