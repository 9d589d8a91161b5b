// Caps on the texts a workload hands to the testbed: a job's declared output, its sub-states, a
// status or error message. The puppet and the supervisor cut them at their edges, so that what a
// workload declared always reaches the switchboard (whose WebSocket messages are at most 1 MiB) as
// a status with a shortened text, never not at all. The numbers are documented in docs/puppet.md
// and docs/supervisor.md.

/** `job finish --output`: the workload's own account of how it ended. */
export const MAX_WORKLOAD_OUTPUT_BYTES = 64 * 1024;
/** A sub-state, and any status message of a state transition. */
export const MAX_STATUS_MESSAGE_BYTES = 4 * 1024;
/** An error event's description. */
export const MAX_ERROR_DESCRIPTION_BYTES = 4 * 1024;

/** What a cut text ends with: how long the original was, so a reader knows something is missing. */
export function truncationMarker(originalBytes: number): string {
  return ` [truncated: ${originalBytes} bytes]`;
}

/**
 * `text` if its UTF-8 form fits in `maxBytes`; otherwise its longest prefix (cut on a character
 * boundary) that fits together with the truncation marker. Even escaped as JSON (at most six bytes
 * per byte) a capped text stays far below the switchboard's message limit.
 */
export function capText(text: string, maxBytes: number): string {
  // Every UTF-16 unit is at most 3 UTF-8 bytes: most texts are decided without encoding them.
  if (text.length * 3 <= maxBytes) return text;
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= maxBytes) return text;
  const marker = truncationMarker(bytes.length);
  let end = Math.max(0, maxBytes - Buffer.byteLength(marker));
  // Back off continuation bytes (10xxxxxx) so the cut falls between characters.
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end).toString('utf8') + marker;
}

/** capText for a text that may be absent. */
export function capNullableText(text: string | null, maxBytes: number): string | null {
  return text === null ? null : capText(text, maxBytes);
}
