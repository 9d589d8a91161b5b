// Standard output without process.stdout where it is no terminal. Creating that stream (or
// process.stderr) loads node:stream, and for a pipe node:net too: 5-10 ms of each `--help`, where
// `node -e 0` takes 45 (`node dist/bench/cli-start.js`). yargs creates both before it prints
// help or the version; the bundles of dist/bin/ have it ask these functions instead
// (scripts/bundle-bins.ts). On a terminal, and wherever this cannot tell, process.stdout does all.

import { fstatSync, statSync, writeSync } from 'node:fs';

function stat(fd: number) {
  try {
    return fstatSync(fd);
  } catch {
    return undefined; // closed: process.stdout would be a stream that drops what it is given
  }
}

/**
 * Whether `fd` is surely no terminal: anything but a character device, or /dev/null. (isatty() is
 * node:tty's, which loads node:net.)
 */
export function isNoTerminal(fd: number): boolean {
  const s = stat(fd);
  if (s === undefined || !s.isCharacterDevice()) return true;
  try {
    return s.rdev === statSync('/dev/null').rdev;
  } catch {
    return false;
  }
}

/** Whether stdout is a pipe or a socket: the only outputs whose reader can go away (EPIPE). */
export function stdoutIsPipe(): boolean {
  const s = stat(1);
  return s !== undefined && (s.isFIFO() || s.isSocket());
}

/** process.stdout.columns: the terminal's width, undefined where stdout is none. */
export function stdoutColumns(): number | undefined {
  return isNoTerminal(1) ? undefined : process.stdout.columns;
}

/**
 * What console.log(text) does: text and a newline on stdout, a failed write passed over as console
 * passes it over. Where stdout is no terminal, in one writeSync (a pipe that another process left
 * non-blocking and is full takes the rest through process.stdout, as it would have taken all).
 * Only for output that nothing written through process.stdout may still be queued before.
 */
export function printLine(text: string): void {
  if (!isNoTerminal(1)) {
    console.log(text);
    return;
  }
  const bytes = Buffer.from(`${text}\n`);
  let written = 0;
  try {
    while (written < bytes.length) written += writeSync(1, bytes, written);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EAGAIN') process.stdout.write(bytes.subarray(written));
  }
}
