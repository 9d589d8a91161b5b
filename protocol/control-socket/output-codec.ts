// Fast paths for `runcommandoutput`, the one bulk payload on the control socket: command output
// travels as a JSON array of byte values, which generic JSON.stringify/parse and number arrays
// handle at a fraction of the speed of a direct scan. Both functions are exact: the encoder
// produces the bytes `encodeFrame` would, and the decoder either returns what the generic
// path would or null (then the caller uses the generic path).

import { FrameEncodeError, MAX_FRAME_LENGTH } from './framing.js';
import type { OutputStream } from './messages.js';

// "N," for every byte value, as a little-endian 32-bit word plus its length: the encoder writes
// a whole word per byte and advances by the length, so the loop has no data-dependent branches.
const WORD = new Uint32Array(256);
const WORD_LENGTH = new Uint8Array(256);
for (let b = 0; b < 256; b++) {
  const text = `${b},`;
  let w = 0;
  for (let i = 0; i < text.length; i++) w |= text.charCodeAt(i) << (8 * i);
  WORD[b] = w >>> 0;
  WORD_LENGTH[b] = text.length;
}
const COMMA = 0x2c;

/**
 * Encodes a `runcommandoutput` event straight from a byte buffer, without first building an
 * array of numbers. Throws FrameEncodeError beyond the frame cap (keep chunks <= 1 MiB).
 */
export function encodeRunCommandOutputFrame(
  puppetEventId: number,
  supervisorEventId: number,
  stream: OutputStream,
  output: Uint8Array,
): Buffer {
  const head = `{"puppet_event_id":${puppetEventId},"event":{"type":"runcommandoutput","supervisor_event_id":${supervisorEventId},"output":[`;
  const tail = `],"stream":"${stream}"}}`;
  // room for a full word per byte (at most 4 bytes of text each)
  const frame = Buffer.allocUnsafe(4 + head.length + output.length * 4 + tail.length);
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  let pos = 4 + frame.write(head, 4, 'latin1');
  for (let i = 0; i < output.length; i++) {
    const b = output[i]!;
    view.setUint32(pos, WORD[b]!, true);
    pos += WORD_LENGTH[b]!;
  }
  if (output.length > 0) pos--; // the last comma
  pos += frame.write(tail, pos, 'latin1');
  const length = pos - 4;
  if (length > MAX_FRAME_LENGTH) throw new FrameEncodeError(`message of ${length} bytes exceeds the 8 MiB frame limit`);
  frame.writeUInt32BE(length, 0);
  return frame.subarray(0, pos);
}

/** Most output bytes per `runcommandoutput` frame that always fit the cap (4 text bytes per byte). */
export const MAX_OUTPUT_CHUNK = 1024 * 1024;

export interface DecodedOutput {
  puppetEventId: number;
  supervisorEventId: number;
  stream: OutputStream;
  output: Buffer;
}

const HEAD =
  /^\{"puppet_event_id":(0|[1-9]\d{0,15}),"event":\{"type":"runcommandoutput","supervisor_event_id":(0|[1-9]\d{0,15}),"output":\[/;
const TAIL_STDOUT = Buffer.from('],"stream":"stdout"}}', 'latin1');
const TAIL_STDERR = Buffer.from('],"stream":"stderr"}}', 'latin1');

/**
 * Decodes a frame body in the canonical compact form of a `runcommandoutput` event. Returns null
 * for anything else, including valid JSON in another layout, which the generic path handles.
 */
export function decodeRunCommandOutput(body: Buffer): DecodedOutput | null {
  if (body.length < 100 || body[0] !== 0x7b) return null;
  const m = HEAD.exec(body.toString('latin1', 0, Math.min(body.length, 140)));
  if (!m) return null;
  const puppetEventId = Number(m[1]);
  const supervisorEventId = Number(m[2]);
  if (!Number.isSafeInteger(puppetEventId) || !Number.isSafeInteger(supervisorEventId)) return null;
  const tailStart = body.length - TAIL_STDOUT.length;
  let stream: OutputStream;
  if (body.compare(TAIL_STDOUT, 0, TAIL_STDOUT.length, tailStart) === 0) stream = 'stdout';
  else if (body.compare(TAIL_STDERR, 0, TAIL_STDERR.length, tailStart) === 0) stream = 'stderr';
  else return null;

  const start = m[0].length;
  // each value takes at least two text bytes ("0,") except the last
  const output = Buffer.allocUnsafe((tailStart - start + 1) >> 1);
  let n = 0;
  let i = start;
  if (i < tailStart) {
    for (;;) {
      let c = body[i]!;
      if (c < 0x30 || c > 0x39) return null;
      let v = c - 0x30;
      i++;
      c = body[i]!;
      if (c >= 0x30 && c <= 0x39) {
        if (v === 0) return null; // leading zero is not JSON
        v = v * 10 + (c - 0x30);
        i++;
        c = body[i]!;
        if (c >= 0x30 && c <= 0x39) {
          v = v * 10 + (c - 0x30);
          if (v > 255) return null;
          i++;
          c = body[i]!;
        }
      }
      output[n++] = v;
      if (i === tailStart) break;
      if (c !== COMMA || i + 1 >= tailStart) return null;
      i++;
    }
  }
  return { puppetEventId, supervisorEventId, stream, output: output.subarray(0, n) };
}
