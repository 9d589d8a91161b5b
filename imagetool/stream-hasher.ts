import { Worker } from 'node:worker_threads';

export type StreamHashRequest =
  { id: number; chunk: Uint8Array } | { id: number; end: true } | { id: number; drop: true };
export type StreamHashReply = { id: number; hashed: number; buffer: ArrayBuffer } | { id: number; digest: string };

/** Bytes posted to the worker and not hashed yet, over all streams: the bound on its queue. */
const MAX_QUEUED = 2 << 20;
/** Writes are gathered to about 1 MiB (hashing-writer.ts); a buffer this large takes any of them. */
const BUFFER_SIZE = (1 << 20) + (256 << 10);

/**
 * SHA-256 of byte streams on one worker thread, so a download's hashing runs on another core than its
 * receiving and writing (measured: bench/imagetool.ts, pull). Each chunk is copied once into a buffer
 * that is handed to the worker and back, so memory is a few buffers and no garbage. `update` waits while
 * too many bytes are queued, which bounds memory when the worker falls behind.
 */
export class StreamHasher {
  private readonly worker: Worker;
  private nextId = 0;
  private queued = 0;
  private readonly waiting: Array<() => void> = [];
  private readonly digests = new Map<number, { resolve: (d: string) => void; reject: (e: unknown) => void }>();
  private failure: unknown;
  private readonly free: ArrayBuffer[] = [];

  constructor() {
    this.worker = new Worker(new URL('./stream-hash-worker.js', import.meta.url), {
      // It holds no data of its own: a small heap keeps the pull's memory down.
      resourceLimits: { maxYoungGenerationSizeMb: 1, maxOldGenerationSizeMb: 8 },
    });
    this.worker.on('message', (reply: StreamHashReply) => {
      if ('hashed' in reply) {
        this.queued -= reply.hashed;
        this.free.push(reply.buffer);
        while (this.queued < MAX_QUEUED && this.waiting.length > 0) this.waiting.shift()!();
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
    for (const d of this.digests.values()) d.reject(this.failure);
    this.digests.clear();
    for (const w of this.waiting.splice(0)) w();
  }

  /** A new stream to hash. */
  stream(): HashStream {
    return new HashStream(this, this.nextId++);
  }

  /** @internal A buffer of at least `length` bytes, to be filled and posted. */
  buffer(length: number): Uint8Array<ArrayBuffer> {
    const reuse = this.free.length > 0 && this.free[this.free.length - 1]!.byteLength >= length;
    const buf = reuse ? this.free.pop()! : new ArrayBuffer(Math.max(length, BUFFER_SIZE));
    return new Uint8Array(buf, 0, length);
  }

  /** @internal */
  async post(id: number, chunk: Uint8Array<ArrayBuffer>): Promise<void> {
    if (this.failure !== undefined) throw this.failure;
    this.queued += chunk.byteLength;
    this.worker.postMessage({ id, chunk } satisfies StreamHashRequest, [chunk.buffer]);
    while (this.queued >= MAX_QUEUED && this.failure === undefined)
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    if (this.failure !== undefined) throw this.failure;
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

  /** Hashes a copy of `parts` (one transfer to the worker), waiting while the worker is far behind. */
  update(parts: readonly Uint8Array[], length: number): Promise<void> {
    const copy = this.hasher.buffer(length);
    let at = 0;
    for (const p of parts) {
      copy.set(p, at);
      at += p.byteLength;
    }
    return this.hasher.post(this.id, copy);
  }

  digest(): Promise<string> {
    return this.hasher.end(this.id);
  }

  /** Forgets the stream (a download started over). */
  drop(): void {
    this.hasher.drop(this.id);
  }
}
