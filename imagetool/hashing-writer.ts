import { createHash, type Hash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import type { DigestResult } from './digest.js';
import type { HashStream } from './stream-hasher.js';

/** Small chunks (tar headers, network reads of 16-64 KiB) are gathered into writes of this size. */
const WRITE_SIZE = 1 << 20;
/** Writeback is started every this many bytes, so the final fsync finds little left (see blob-writer.ts). */
const FLUSH_EVERY = 64 << 20;

/**
 * The sink of a blob produced as a stream (a tar archive being packed, a download): every byte is hashed
 * as it is written to the temp file, so a blob is read or received exactly once. Memory is one write's
 * worth; the caller awaits each `write`, which is the backpressure. With a `HashStream` the hashing is
 * done on a worker thread, one write's worth at a time, while this thread receives and writes.
 */
export class HashingWriter {
  private readonly hash: Hash | undefined;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private position: number;
  private flushing: Promise<void> | undefined;
  private flushedAt: number;

  /** `position`: bytes already in the file, which the caller must have fed through `absorb`. */
  constructor(
    private readonly fh: FileHandle,
    position = 0,
    private readonly offThread?: HashStream,
  ) {
    this.position = position;
    this.flushedAt = position;
    if (offThread === undefined) this.hash = createHash('sha256');
  }

  /** Hashes bytes that are already in the file (the start of a resumed download) without writing them. */
  async absorb(chunk: Uint8Array): Promise<void> {
    if (this.offThread !== undefined) await this.offThread.update([chunk], chunk.byteLength);
    else this.hash!.update(chunk);
  }

  /** Bytes hashed and written (or queued) so far, absorbed ones included. */
  get size(): number {
    return this.position + this.pendingBytes;
  }

  /** Returns a promise only when the chunk filled a write: most chunks cost no await. */
  write(chunk: Uint8Array): Promise<void> | undefined {
    this.hash?.update(chunk);
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
    // The copy for the worker is taken before the write, so nothing the write holds is handed over.
    const hashed = this.offThread?.update(bufs, length);
    hashed?.catch(() => {}); // awaited below, after the write
    // One gathered write, no copy; a short write (rare for files) is completed piece by piece.
    let done = (await this.fh.writev(bufs, this.position)).bytesWritten;
    if (done < length) {
      const rest = Buffer.concat(bufs, length);
      while (done < length) done += (await this.fh.write(rest, done, length - done, this.position + done)).bytesWritten;
    }
    this.position += length;
    await hashed;
    if (this.position - this.flushedAt >= FLUSH_EVERY && this.flushing === undefined) {
      this.flushedAt = this.position;
      this.flushing = this.fh.datasync().finally(() => {
        this.flushing = undefined;
      });
    }
  }

  /** Writes what is queued (so the file holds every byte hashed so far), without fsync. */
  async flushQueued(): Promise<void> {
    await this.drain();
  }

  /** Writes what is queued, waits for writeback, fsyncs; returns the digest and size of the whole file. */
  async finish(): Promise<DigestResult> {
    await this.drain();
    await this.flushing;
    await this.fh.sync();
    const digest = this.offThread !== undefined ? await this.offThread.digest() : this.hash!.digest('hex');
    return { digest, size: this.position };
  }

  /**
   * Lets a background flush settle before the caller closes or removes the file after a failure, and
   * forgets the hash.
   */
  async abandon(): Promise<void> {
    this.offThread?.drop();
    await this.flushing?.catch(() => {});
  }
}
