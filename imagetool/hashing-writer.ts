import { createHash, type Hash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import type { DigestResult } from './digest.js';

/** Small chunks (tar headers, compressed output) are gathered into writes of this size. */
const WRITE_SIZE = 1 << 20;
/** Writeback is started every this many bytes, so the final fsync finds little left (see blob-writer.ts). */
const FLUSH_EVERY = 64 << 20;

/**
 * The sink of a blob produced as a stream (a tar archive being packed): every byte is hashed as it is
 * written to the temp file, so a blob is produced exactly once. Memory is one write's worth; the caller
 * awaits each `write`, which is the backpressure. (Downloads have their own sink: download-sink.ts.)
 */
export class HashingWriter {
  private readonly hash: Hash = createHash('sha256');
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private position = 0;
  private flushing: Promise<void> | undefined;
  private flushedAt = 0;

  constructor(private readonly fh: FileHandle) {}

  /** Returns a promise only when the chunk filled a write: most chunks cost no await. */
  write(chunk: Uint8Array): Promise<void> | undefined {
    this.hash.update(chunk);
    this.pending.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    this.pendingBytes += chunk.byteLength;
    return this.pendingBytes >= WRITE_SIZE ? this.drain() : undefined;
  }

  private async drain(): Promise<void> {
    if (this.pendingBytes === 0) return;
    const bufs = this.pending;
    const length = this.pendingBytes;
    this.pending = [];
    this.pendingBytes = 0;
    // One gathered write, no copy; a short write (rare for files) is completed piece by piece.
    let done = (await this.fh.writev(bufs, this.position)).bytesWritten;
    if (done < length) {
      const rest = Buffer.concat(bufs, length);
      while (done < length) done += (await this.fh.write(rest, done, length - done, this.position + done)).bytesWritten;
    }
    this.position += length;
    if (this.position - this.flushedAt >= FLUSH_EVERY && this.flushing === undefined) {
      this.flushedAt = this.position;
      this.flushing = this.fh.datasync().finally(() => {
        this.flushing = undefined;
      });
    }
  }

  /** Writes what is queued, waits for writeback, fsyncs; returns the digest and size of the whole file. */
  async finish(): Promise<DigestResult> {
    await this.drain();
    await this.flushing;
    await this.fh.sync();
    return { digest: this.hash.digest('hex'), size: this.position };
  }

  /** Lets a background flush settle before the caller closes or removes the file after a failure. */
  async abandon(): Promise<void> {
    await this.flushing?.catch(() => {});
  }
}
