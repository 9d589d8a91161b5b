// Collects a host's console bytes into console_log-sized batches: many small writes become one message,
// a large write becomes several messages of at most maxBytes each.

export const CONSOLE_LOG_MAX_BYTES = 64 * 1024;

export class ConsoleBatcher {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly emit: (bytes: Buffer) => void,
    private readonly opts: { maxBytes?: number; delayMs?: number } = {},
  ) {}

  private get maxBytes(): number {
    return this.opts.maxBytes ?? CONSOLE_LOG_MAX_BYTES;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    if (this.buffered >= this.maxBytes) {
      this.emitFull();
    }
    if (this.buffered > 0 && this.timer === null) {
      this.timer = setTimeout(() => this.flush(), this.opts.delayMs ?? 50);
    }
  }

  /** Emits everything buffered; call before any other event so the console stays in order with it. */
  flush(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    this.emitFull();
    if (this.buffered > 0) {
      const all = Buffer.concat(this.chunks);
      this.chunks = [];
      this.buffered = 0;
      this.emit(all);
    }
  }

  private emitFull(): void {
    if (this.buffered < this.maxBytes) return;
    let all = Buffer.concat(this.chunks);
    while (all.length >= this.maxBytes) {
      this.emit(all.subarray(0, this.maxBytes));
      all = all.subarray(this.maxBytes);
    }
    this.chunks = all.length > 0 ? [all] : [];
    this.buffered = all.length;
  }
}
