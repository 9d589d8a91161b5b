import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import type { DigestResult } from './digest.js';
import { SLOT_SIZE, type HashStream, type Slot, type StreamHasher } from './stream-hasher.js';

/** Slots a download holds: one being filled while two are written and hashed. */
export const SLOTS_PER_DOWNLOAD = 3;
/** O_DIRECT needs offsets, lengths and buffers aligned to the device's block; 4 KiB covers 512-byte ones. */
const ALIGN = 4096;
/** Written through the page cache, writeback is started every this many bytes so the final fsync finds little. */
const FLUSH_EVERY = 64 << 20;
const O_DIRECT = constants.O_DIRECT ?? 0;

const EMPTY = new Uint8Array(0);

const alignUp = (n: number): number => Math.ceil(n / ALIGN) * ALIGN;

/**
 * The file a download is received into: its bytes are gathered into slots of shared memory, and each
 * full slot is written to the file while the hash worker reads the same slot. The socket reads straight
 * into the slot (`room`), so a byte is copied once, by the kernel, and hashed on another core.
 *
 * Writes bypass the page cache (O_DIRECT) where the file system allows it. A blob must be on disk before
 * it is renamed anyway, and copying a gigabyte into the page cache only for fsync to write it out cost
 * this machine 1.3 to 2.4 s of CPU, against 0.1 s for the same writes made direct (measured with dd and
 * bench/imagetool.ts, pull). Only whole slots are written while receiving; the last piece is written
 * padded to the block size and the file then cut to its length. Where O_DIRECT is refused, the file is
 * written through the page cache instead.
 */
export class DownloadSink {
  private stream: HashStream;
  private current: Slot;
  /** bytes in `current`, which belong at file offset `slotAt` */
  private fill = 0;
  private slotAt = 0;
  private readonly spare: Slot[];
  /** writes (and hash steps) of full slots, oldest first */
  private readonly inflight: Array<Promise<void>> = [];
  private failure: { err: unknown } | undefined;
  private flushing: Promise<void> | undefined;
  private flushedAt = 0;
  private reopening: Promise<void> | undefined;
  private retired: FileHandle | undefined;
  private finished = false;
  /** the current slot was handed to a write, and a spare one is awaited */
  private waiting = false;
  private closed = false;

  private constructor(
    private readonly path: string,
    private fh: FileHandle,
    private direct: boolean,
    private readonly hasher: StreamHasher,
    slots: Slot[],
    /** the file's size when it was opened: bytes of an earlier attempt, to be verified */
    readonly existing: number,
  ) {
    this.stream = hasher.stream();
    this.current = slots[0]!;
    this.spare = slots.slice(1);
  }

  /**
   * Opens (or creates) the file at `path`, taking this download's slots from `hasher`. `direct: false`
   * writes through the page cache, as on a file system that refuses O_DIRECT.
   */
  static async open(path: string, hasher: StreamHasher, opts: { direct?: boolean } = {}): Promise<DownloadSink> {
    const flags = constants.O_RDWR | constants.O_CREAT;
    let fh: FileHandle;
    let direct = O_DIRECT !== 0 && opts.direct !== false;
    try {
      fh = await open(path, direct ? flags | O_DIRECT : flags, 0o666);
    } catch (err) {
      if (!direct || (err as NodeJS.ErrnoException).code !== 'EINVAL') throw err;
      direct = false;
      fh = await open(path, flags, 0o666);
    }
    try {
      const existing = (await fh.stat()).size;
      const slots: Slot[] = [];
      for (let i = 0; i < SLOTS_PER_DOWNLOAD; i++) slots.push(await hasher.acquire());
      return new DownloadSink(path, fh, direct, hasher, slots, existing);
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  /** Bytes hashed and written (or gathered to be written) so far. */
  get size(): number {
    return this.slotAt + this.fill;
  }

  /**
   * Hashes the bytes already in the file (the start of a resumed download): they are verified, not
   * trusted. The last piece short of a whole slot is kept in the slot, to be written again with what follows.
   */
  async absorbExisting(): Promise<void> {
    while (this.size < this.existing) {
      const left = this.existing - this.slotAt;
      const want = Math.min(SLOT_SIZE, left);
      if ((await this.read(this.current.bytes, alignUp(want), this.slotAt)) < want)
        throw new Error('partial file shrank while it was read');
      this.fill = want;
      if (want < SLOT_SIZE) break;
      await this.stream.update(this.current, SLOT_SIZE);
      this.slotAt += SLOT_SIZE;
      this.fill = 0;
    }
  }

  private async read(into: Uint8Array, length: number, at: number): Promise<number> {
    try {
      return (await this.fh.read(into, 0, length, at)).bytesRead;
    } catch (err) {
      if (!this.direct || (err as NodeJS.ErrnoException).code !== 'EINVAL') throw err;
      await this.bypassNoMore();
      return (await this.fh.read(into, 0, length, at)).bytesRead;
    }
  }

  /**
   * The rest of the slot being filled, for the socket to read into (see `write`); empty while the sink
   * waits for a slot.
   */
  room(): Uint8Array {
    return this.waiting || this.failure !== undefined ? EMPTY : this.current.bytes.subarray(this.fill);
  }

  /**
   * Takes `chunk`, without copying it when it is where `room` said. Returns a promise only when the
   * caller must wait for a slot: most chunks cost no await.
   */
  write(chunk: Uint8Array): Promise<void> | undefined {
    if (this.failure !== undefined) return Promise.reject(this.failure.err);
    const slot = this.current.bytes;
    const inPlace = chunk.buffer === slot.buffer && chunk.byteOffset === slot.byteOffset + this.fill;
    const n = Math.min(chunk.byteLength, SLOT_SIZE - this.fill);
    if (!inPlace) slot.set(n === chunk.byteLength ? chunk : chunk.subarray(0, n), this.fill);
    this.fill += n;
    if (this.fill < SLOT_SIZE) return undefined;
    this.submit();
    const rest = chunk.subarray(n);
    const next = this.spare.pop();
    if (next === undefined) return this.waitForSlot().then(() => this.write(rest));
    this.current = next;
    return rest.byteLength > 0 ? this.write(rest) : undefined;
  }

  /** Starts writing and hashing the full current slot; it becomes spare once both are done. */
  private submit(): void {
    const slot = this.current;
    const at = this.slotAt;
    this.slotAt += SLOT_SIZE;
    this.fill = 0;
    const op = Promise.allSettled([this.writeSlot(slot, SLOT_SIZE, at), this.stream.update(slot, SLOT_SIZE)]).then(
      ([written, hashed]) => {
        this.inflight.splice(this.inflight.indexOf(op), 1);
        this.spare.push(slot);
        // A failed write (a full disk) is what went wrong, whatever else did.
        const failed = written.status === 'rejected' ? written : hashed.status === 'rejected' ? hashed : undefined;
        if (failed !== undefined) this.failure ??= { err: failed.reason };
      },
    );
    this.inflight.push(op);
    if (!this.direct && this.slotAt - this.flushedAt >= FLUSH_EVERY && this.flushing === undefined) {
      this.flushedAt = this.slotAt;
      this.flushing = op
        .then(() => this.fh.datasync())
        .catch(() => {}) // a failure of writeback is found again by the final fsync
        .finally(() => {
          this.flushing = undefined;
        });
    }
  }

  private async waitForSlot(): Promise<void> {
    this.waiting = true;
    while (this.spare.length === 0) await this.inflight[0];
    this.current = this.spare.pop()!;
    this.waiting = false;
    if (this.failure !== undefined) throw this.failure.err;
  }

  /** Writes `length` bytes of `slot` at `at`: padded to the block size when direct. */
  private async writeSlot(slot: Slot, length: number, at: number): Promise<void> {
    let done = 0;
    for (;;) {
      const total = this.direct ? alignUp(length) : length;
      if (done >= total) return;
      if (this.direct && total > length) slot.bytes.fill(0, length, total);
      const fh = this.fh;
      try {
        done += (await fh.write(slot.bytes, done, total - done, at + done)).bytesWritten;
      } catch (err) {
        if (!this.direct || (err as NodeJS.ErrnoException).code !== 'EINVAL') throw err;
        await this.bypassNoMore();
      }
      // A short direct write leaves an unaligned rest, which only the page cache takes.
      if (this.direct && done % ALIGN !== 0) await this.bypassNoMore();
    }
  }

  /** A file system that refused a direct write: the file is opened again to be written through the page cache. */
  private bypassNoMore(): Promise<void> {
    this.reopening ??= (async () => {
      const fh = await open(this.path, constants.O_RDWR);
      // Writes in flight on the direct handle finish before it is closed.
      this.retired = this.fh;
      this.fh = fh;
      this.direct = false;
    })();
    return this.reopening;
  }

  /** Waits for every write and flush in flight (not for the bytes still gathered in the slot). */
  private async settle(): Promise<void> {
    while (this.inflight.length > 0) await this.inflight[0];
    await this.flushing;
  }

  /** The bytes gathered so far, written (the slot keeps them), and the file cut to the bytes received. */
  private async writeGathered(): Promise<void> {
    await this.settle();
    if (this.failure !== undefined) throw this.failure.err;
    if (this.fill > 0) await this.writeSlot(this.current, this.fill, this.slotAt);
    // Cuts the padding of a direct write, and anything an earlier attempt left past the bytes received.
    await this.fh.truncate(this.size);
  }

  /** Writes what is gathered (so the file holds every byte received), without fsync. */
  async flushQueued(): Promise<void> {
    await this.writeGathered();
  }

  /** Writes what is gathered, fsyncs; returns the digest and size of the whole file. */
  async finish(): Promise<DigestResult> {
    const size = this.size;
    const hashed = this.fill > 0 ? this.stream.update(this.current, this.fill) : undefined;
    hashed?.catch(() => {}); // awaited below, after the write
    await this.writeGathered();
    await hashed;
    await this.fh.sync();
    const digest = await this.stream.digest();
    this.finished = true;
    return { digest, size };
  }

  /** Forgets what was received and empties the file, for a download that starts over. */
  async restart(): Promise<void> {
    await this.settle();
    if (!this.finished) this.stream.drop();
    this.stream = this.hasher.stream();
    this.finished = false;
    this.failure = undefined;
    this.slotAt = this.fill = this.flushedAt = 0;
    await this.fh.truncate(0);
  }

  /** Lets writes in flight settle, gives the slots back and closes the file; the bytes on disk stay. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.settle().catch(() => {});
    if (!this.finished) this.stream.drop();
    for (const slot of [this.current, ...this.spare]) this.hasher.release(slot);
    await this.retired?.close().catch(() => {});
    await this.fh.close();
  }
}
