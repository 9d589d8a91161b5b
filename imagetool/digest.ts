import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import { open } from 'node:fs/promises';

/**
 * Chunks of 256 KiB: each is still in the CPU's cache when it is hashed or written, and a 4 MiB chunk
 * was measured to cost twice the CPU time and several times the wall time of copying and hashing a
 * 512 MiB file (the thread-pool round trips 256 KiB needs are cheap beside that).
 */
export const CHUNK_SIZE = 256 << 10;

export interface DigestResult {
  digest: string;
  size: number;
}

export type ProgressFn = (bytes: number) => void;

export function sha256Hex(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * Hashes a file with one sequential read; the next read is in flight (in libuv's thread pool) while the
 * current chunk is hashed, so disk and CPU overlap.
 */
export async function hashFile(path: string, onProgress?: ProgressFn): Promise<DigestResult> {
  const fh = await open(path, 'r');
  try {
    const hash = createHash('sha256');
    const bufs = [Buffer.allocUnsafe(CHUNK_SIZE), Buffer.allocUnsafe(CHUNK_SIZE)];
    let i = 0;
    let size = 0;
    let pending = fh.read(bufs[0]!, 0, CHUNK_SIZE, null);
    for (;;) {
      const { bytesRead } = await pending;
      if (bytesRead === 0) break;
      const buf = bufs[i]!;
      i ^= 1;
      pending = fh.read(bufs[i]!, 0, CHUNK_SIZE, null);
      hash.update(buf.subarray(0, bytesRead));
      size += bytesRead;
      onProgress?.(bytesRead);
    }
    return { digest: hash.digest('hex'), size };
  } finally {
    await fh.close();
  }
}

/** Progress is reported per this many bytes, not per chunk, so a worker's messages stay few. */
const PROGRESS_EVERY = 8 << 20;

/**
 * Hashes a file with blocking reads, for worker threads (a hash worker does nothing else, so blocking
 * costs nothing): the read copies each chunk into the cache of the core that then hashes it, as
 * openssl dgst does, where an async read would copy it on a thread-pool thread, often on the other core.
 */
export function hashFileSync(path: string, onProgress?: ProgressFn): DigestResult {
  const steps = hashSteps(path, onProgress);
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
  }
}

/**
 * hashFileSync on a thread that has other work too: the same blocking reads, with a turn of the
 * event loop after every PROGRESS_EVERY bytes (a few milliseconds of hashing).
 */
export async function hashFileInTurns(path: string, onProgress?: ProgressFn): Promise<DigestResult> {
  const steps = hashSteps(path, onProgress);
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** The loop of hashFileSync, pausing after each progress report. */
function* hashSteps(path: string, onProgress?: ProgressFn): Generator<void, DigestResult> {
  const fd = openSync(path, 'r');
  try {
    const hash = createHash('sha256');
    const buf = Buffer.allocUnsafe(CHUNK_SIZE);
    let size = 0;
    let unreported = 0;
    for (;;) {
      const n = readSync(fd, buf, 0, CHUNK_SIZE, null);
      if (n === 0) break;
      hash.update(buf.subarray(0, n));
      size += n;
      unreported += n;
      if (unreported >= PROGRESS_EVERY) {
        onProgress?.(unreported);
        unreported = 0;
        yield;
      }
    }
    if (unreported > 0) onProgress?.(unreported);
    return { digest: hash.digest('hex'), size };
  } finally {
    closeSync(fd);
  }
}
