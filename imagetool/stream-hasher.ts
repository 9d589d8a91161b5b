import { Worker } from 'node:worker_threads';

export type StreamHashRequest =
  { id: number; offset: number; length: number } | { id: number; end: true } | { id: number; drop: true };
export type StreamHashReply = { id: number; offset: number } | { id: number; digest: string };

// The one part of WebAssembly used here; its types come with the DOM library, which this project does not load.
declare const WebAssembly: {
  Memory: new (descriptor: { initial: number; maximum: number; shared: true }) => { buffer: SharedArrayBuffer };
};

/** A slot's size: what one write to disk and one hash step take. A multiple of any block size. */
export const SLOT_SIZE = 1 << 20;

/** A buffer of SLOT_SIZE bytes in memory the worker shares, aligned for O_DIRECT. */
export interface Slot {
  offset: number;
  bytes: Uint8Array;
}

/**
 * SHA-256 of byte streams on one worker thread, so a download's hashing runs on another core than its
 * receiving (measured: bench/imagetool.ts, pull). The bytes are never copied for it: the worker reads
 * the slots they were received into, in memory both threads share. That memory is a WebAssembly memory
 * because it is the one buffer JavaScript can have page-aligned, which O_DIRECT writes need
 * (download-sink.ts). A slot is the caller's again once its hash step and its write are done.
 */
export class StreamHasher {
  private readonly worker: Worker;
  private readonly memory: SharedArrayBuffer;
  private readonly free: Slot[] = [];
  private readonly waitingForSlot: Array<(slot: Slot) => void> = [];
  private nextId = 0;
  /** hash steps posted and not done, by stream and slot */
  private readonly steps = new Map<string, { resolve: () => void; reject: (e: unknown) => void }>();
  private readonly digests = new Map<number, { resolve: (d: string) => void; reject: (e: unknown) => void }>();
  private failure: unknown;

  /** `slots`: how many slots the streams hold at most at once (each may wait for one while all are held). */
  constructor(slots: number) {
    const pages = Math.ceil((slots * SLOT_SIZE) / 65536);
    this.memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true }).buffer as SharedArrayBuffer;
    for (let i = 0; i < slots; i++)
      this.free.push({ offset: i * SLOT_SIZE, bytes: new Uint8Array(this.memory, i * SLOT_SIZE, SLOT_SIZE) });
    this.worker = new Worker(new URL('./stream-hash-worker.js', import.meta.url), {
      workerData: this.memory,
      // It holds no data of its own: a small heap keeps the pull's memory down.
      resourceLimits: { maxYoungGenerationSizeMb: 1, maxOldGenerationSizeMb: 8 },
    });
    this.worker.on('message', (reply: StreamHashReply) => {
      if ('offset' in reply) {
        const key = `${reply.id}:${reply.offset}`;
        this.steps.get(key)?.resolve();
        this.steps.delete(key);
        return;
      }
      this.digests.get(reply.id)?.resolve(reply.digest);
      this.digests.delete(reply.id);
    });
    this.worker.on('error', (err) => this.fail(err));
    this.worker.on('exit', () => this.fail(new Error('the hash worker exited')));
  }

  private fail(err: unknown): void {
    this.failure ??= err;
    for (const d of [...this.digests.values(), ...this.steps.values()]) d.reject(this.failure);
    this.digests.clear();
    this.steps.clear();
  }

  /** A new stream to hash. */
  stream(): HashStream {
    return new HashStream(this, this.nextId++);
  }

  /** A free slot; waits while all are held. */
  acquire(): Promise<Slot> | Slot {
    return this.free.pop() ?? new Promise((resolve) => this.waitingForSlot.push(resolve));
  }

  release(slot: Slot): void {
    const waiter = this.waitingForSlot.shift();
    if (waiter !== undefined) waiter(slot);
    else this.free.push(slot);
  }

  /** @internal */
  step(id: number, slot: Slot, length: number): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.steps.set(`${id}:${slot.offset}`, { resolve, reject });
      this.worker.postMessage({ id, offset: slot.offset, length } satisfies StreamHashRequest);
    });
  }

  /** @internal */
  end(id: number): Promise<string> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.digests.set(id, { resolve, reject });
      this.worker.postMessage({ id, end: true } satisfies StreamHashRequest);
    });
  }

  /** @internal */
  drop(id: number): void {
    if (this.failure === undefined) this.worker.postMessage({ id, drop: true } satisfies StreamHashRequest);
  }

  async close(): Promise<void> {
    this.worker.removeAllListeners('exit');
    await this.worker.terminate();
  }
}

/** One stream of a StreamHasher. */
export class HashStream {
  constructor(
    private readonly hasher: StreamHasher,
    private readonly id: number,
  ) {}

  /**
   * Hashes the first `length` bytes of `slot`, after the bytes of every earlier update; resolves once the
   * worker is done with them (the slot must not change until then).
   */
  update(slot: Slot, length: number): Promise<void> {
    return this.hasher.step(this.id, slot, length);
  }

  digest(): Promise<string> {
    return this.hasher.end(this.id);
  }

  /** Forgets the stream (a download started over). Its updates still in flight are answered. */
  drop(): void {
    this.hasher.drop(this.id);
  }
}
