// Console input for a host: bytes a user typed (the switchboard's `console_input` extension message)
// written to the stream the host reads its console from (QEMU's serial port on its stdin, the local
// host's boot script's stdin). Bounded: a host that does not read its input cannot make the supervisor
// hold more than `maxPendingBytes`; what does not fit is dropped and said so in the log once.

import type { Writable } from 'node:stream';
import type { Logger } from '../protocol/log.js';

export const DEFAULT_MAX_PENDING_INPUT_BYTES = 64 * 1024;

export type InputResult = 'written' | 'no_input' | 'dropped';

/**
 * A terminal's Enter is a carriage return; a serial line's tty turns it into a newline (ICRNL).
 * For a host whose console is a pipe (the local host), this does the same: CR and CR LF become LF.
 */
export function crToLf(data: Buffer): Buffer {
  if (!data.includes(0x0d)) return data;
  const out: number[] = [];
  for (let i = 0; i < data.length; i++) {
    const b = data[i]!;
    if (b !== 0x0d) out.push(b);
    else if (data[i + 1] !== 0x0a) out.push(0x0a);
  }
  return Buffer.from(out);
}

export class ConsoleInput {
  private stream: Writable | null = null;
  private warned = false;

  constructor(
    private readonly log: Logger,
    private readonly maxPendingBytes = DEFAULT_MAX_PENDING_INPUT_BYTES,
  ) {}

  /** The host's console input from now on (null: none, e.g. the process ended). */
  attach(stream: Writable | null): void {
    this.stream = stream;
    // A reader that went away (EPIPE) ends the input; it must not end the supervisor.
    stream?.on('error', (err) => {
      this.log.debug(`console input closed: ${err.message}`);
      if (this.stream === stream) this.stream = null;
    });
  }

  write(data: Buffer): InputResult {
    const s = this.stream;
    if (s === null || s.destroyed || !s.writable) return 'no_input';
    if (s.writableLength + data.length > this.maxPendingBytes) {
      if (!this.warned)
        this.log.warn(`the host reads no console input; dropping input beyond ${this.maxPendingBytes} bytes`);
      this.warned = true;
      return 'dropped';
    }
    this.warned = false;
    s.write(data);
    return 'written';
  }

  close(): void {
    const s = this.stream;
    this.stream = null;
    s?.end();
  }
}
