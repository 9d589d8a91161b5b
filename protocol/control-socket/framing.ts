// Frames: a 4-byte big-endian length, then that many bytes of UTF-8 JSON (docs/control-socket.md, Frames).

import { ValidationError } from '../validation.js';

/** Largest frame body the spec allows (8 MiB). */
export const MAX_FRAME_LENGTH = 8 * 1024 * 1024;

export class FrameEncodeError extends Error {}

/** Encodes one message as a frame. Throws FrameEncodeError if it would exceed the cap. */
export function encodeFrame(message: unknown): Buffer {
  const json = JSON.stringify(message);
  const length = Buffer.byteLength(json, 'utf8');
  if (length > MAX_FRAME_LENGTH) throw new FrameEncodeError(`message of ${length} bytes exceeds the 8 MiB frame limit`);
  const frame = Buffer.allocUnsafe(4 + length);
  frame.writeUInt32BE(length, 0);
  frame.write(json, 4, 'utf8');
  return frame;
}

export interface DecodeResult {
  /** Complete frame bodies, in order. */
  frames: Buffer[];
  /** Set once the peer announced an oversize frame; the connection must be dropped. */
  error: string | null;
}

/**
 * Incremental frame decoder for a byte stream: handles frames split across reads and several
 * frames per read. A body buffer is allocated only after its length passed the cap check.
 */
export class FrameDecoder {
  readonly #maxLength: number;
  readonly #header = Buffer.alloc(4);
  #headerFill = 0;
  #body: Buffer | null = null;
  #bodyFill = 0;
  #error: string | null = null;

  constructor(maxLength = MAX_FRAME_LENGTH) {
    this.#maxLength = maxLength;
  }

  push(chunk: Uint8Array): DecodeResult {
    const frames: Buffer[] = [];
    let pos = 0;
    while (this.#error === null && pos < chunk.length) {
      if (this.#body === null) {
        const n = Math.min(4 - this.#headerFill, chunk.length - pos);
        for (let i = 0; i < n; i++) this.#header[this.#headerFill++] = chunk[pos++]!;
        if (this.#headerFill < 4) break;
        const length = this.#header.readUInt32BE(0);
        this.#headerFill = 0;
        if (length > this.#maxLength) {
          this.#error = `frame length ${length} exceeds the limit of ${this.#maxLength} bytes`;
          break;
        }
        this.#body = Buffer.allocUnsafe(length);
        this.#bodyFill = 0;
      }
      const n = Math.min(this.#body.length - this.#bodyFill, chunk.length - pos);
      if (n > 0) {
        this.#body.set(chunk.subarray(pos, pos + n), this.#bodyFill);
        this.#bodyFill += n;
        pos += n;
      }
      if (this.#bodyFill === this.#body.length) {
        frames.push(this.#body);
        this.#body = null;
      }
    }
    return { frames, error: this.#error };
  }

  /** Bytes of an unfinished frame are pending (useful to report truncation at end of stream). */
  get pending(): boolean {
    return this.#headerFill > 0 || this.#body !== null;
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Decodes a frame body as strict UTF-8 JSON; throws ValidationError, whose message never quotes the frame. */
export function decodeFrameBody(body: Uint8Array): unknown {
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    throw new ValidationError('frame is not valid UTF-8');
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    // V8's message may quote part of the frame, which can hold a secret parameter value: only
    // its position is passed on
    const at = /at position (\d+)/.exec((e as Error).message);
    throw new ValidationError(`frame is not valid JSON${at ? ` (at character ${at[1]})` : ''}`);
  }
}
