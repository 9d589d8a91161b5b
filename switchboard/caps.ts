// Size caps on what a supervisor (and so a host, and so a job's workload) can make the switchboard
// store: texts are cut with a marker, and a job keeps a bounded number of events.

/** Longest status message (of a state or sub-state) kept, in UTF-8 bytes. */
export const MAX_STATUS_MESSAGE_BYTES = 4096;

/** Longest exit message (a workload's declared output, a supervisor's error) kept, in UTF-8 bytes. */
export const MAX_EXIT_MESSAGE_BYTES = 64 * 1024;

/**
 * Events kept per job. Past this, changes still apply to the job but are not recorded as events,
 * except its move to terminated, which always is.
 */
export const MAX_EVENTS_PER_JOB = 2000;

/** `text` if it fits in `maxBytes` of UTF-8, else its head and a marker saying how long it was, within `maxBytes`. */
export function capText(text: string, maxBytes: number): string {
  const bytes = Buffer.byteLength(text);
  if (bytes <= maxBytes) return text;
  const marker = ` [... truncated: ${bytes} bytes in all]`;
  const head = Buffer.from(text).subarray(0, maxBytes - Buffer.byteLength(marker));
  // Decoding drops a character cut in half as U+FFFD; drop that too so the head stays within bounds.
  return `${head.toString('utf8').replace(/\uFFFD+$/, '')}${marker}`;
}

/** capText for a text that may be absent. */
export const capNullable = (text: string | null | undefined, maxBytes: number): string | null =>
  text === null || text === undefined ? null : capText(text, maxBytes);
