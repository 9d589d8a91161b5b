import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';

/**
 * Reads of 4 MiB keep syscall and thread-pool round trips rare (measured faster than 1 MiB on a 1 GiB
 * blob) while memory stays a few buffers' worth whatever the file size.
 */
export const CHUNK_SIZE = 4 << 20;

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
