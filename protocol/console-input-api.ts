// Our REST extension for console input (docs/switchboard.md, "Console input"): the owner of a running
// job, or an admin, sends bytes to its host's console input with `POST /api/v1/jobs/:id/console`.
// The switchboard passes them on to the supervisor in a `console_input` WebSocket extension message.

import { MAX_CONSOLE_INPUT_BYTES } from './switchboard-ws.js';
import { ValidationError, expectObject, expectString, rejectUnknownKeys } from './validation.js';

/** Request body: `{"data_base64": "<standard base64 of 1 to 4096 bytes>"}`. */
export interface ConsoleInputRequest {
  data_base64: string;
}

/** Answer: how many bytes were passed on to the supervisor. */
export interface ConsoleInputAnswer {
  type: 'ok';
  bytes: number;
}

const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** The bytes of a console input request; throws ValidationError. */
export function parseConsoleInputRequest(body: unknown): Buffer {
  const obj = expectObject(body, 'body');
  rejectUnknownKeys(obj, ['data_base64'], 'body');
  const text = expectString(obj.data_base64, 'body.data_base64');
  if (text.length > Math.ceil(MAX_CONSOLE_INPUT_BYTES / 3) * 4 || !BASE64_RE.test(text)) {
    throw new ValidationError(
      `body.data_base64 must be the standard padded base64 of 1 to ${MAX_CONSOLE_INPUT_BYTES} bytes`,
    );
  }
  const bytes = Buffer.from(text, 'base64');
  if (bytes.length === 0 || bytes.length > MAX_CONSOLE_INPUT_BYTES) {
    throw new ValidationError(
      `body.data_base64 holds ${bytes.length} bytes; it must hold 1 to ${MAX_CONSOLE_INPUT_BYTES}`,
    );
  }
  return bytes;
}

export function parseConsoleInputAnswer(value: unknown): ConsoleInputAnswer {
  const obj = expectObject(value, 'answer');
  const bytes = obj.bytes;
  if (obj.type !== 'ok' || typeof bytes !== 'number' || !Number.isInteger(bytes) || bytes < 0) {
    throw new ValidationError('answer must be {"type": "ok", "bytes": N}');
  }
  return { type: 'ok', bytes };
}
