// Named deadlines on an injectable clock: the scheduler's queue, job and grace-period timeouts.
// The system clock is the default; tests pass a fake one and move it on instead of waiting.

export interface Clock {
  now(): number;
  /** Calls `fire` once, `ms` from now; the returned function cancels it. */
  schedule(ms: number, fire: () => void): () => void;
}

// setTimeout's longest delay; longer ones re-arm.
const MAX_TIMER_MS = 2 ** 31 - 1;

export const systemClock: Clock = {
  now: () => Date.now(),
  schedule(ms, fire) {
    let timer: NodeJS.Timeout;
    const arm = (left: number) => {
      timer = setTimeout(() => (left > MAX_TIMER_MS ? arm(left - MAX_TIMER_MS) : fire()), Math.min(left, MAX_TIMER_MS));
      // A pending deadline alone does not keep the process alive.
      timer.unref();
    };
    arm(Math.max(0, ms));
    return () => clearTimeout(timer);
  },
};

/** What to do when a deadline's action throws: retry it after this many ms, or (null) give it up. */
export type OnDeadlineFailure = (key: string, err: unknown) => number | null;

export class Deadlines {
  private readonly pending = new Map<string, () => void>();
  private stopped = false;

  /** An action that throws never escapes to the timer (that would end the process): `onFailure` decides. */
  constructor(
    readonly clock: Clock,
    private readonly onFailure: OnDeadlineFailure,
  ) {}

  /** Calls `fire` at time `deadline` (ms since the epoch), replacing any deadline of that key. */
  at(key: string, deadline: number, fire: () => unknown): void {
    this.clear(key);
    if (this.stopped) return;
    const failed = (err: unknown) => {
      const retryMs = this.onFailure(key, err);
      // A deadline of this key armed while the action ran is newer than the retry.
      if (retryMs !== null && !this.pending.has(key)) this.at(key, this.clock.now() + retryMs, fire);
    };
    const cancel = this.clock.schedule(Math.max(0, deadline - this.clock.now()), () => {
      this.pending.delete(key);
      try {
        const done = fire();
        if (done instanceof Promise) done.catch(failed);
      } catch (err) {
        failed(err);
      }
    });
    this.pending.set(key, cancel);
  }

  clear(key: string): void {
    const cancel = this.pending.get(key);
    if (cancel) {
      cancel();
      this.pending.delete(key);
    }
  }

  /** Cancels every deadline; later ones are not armed (the database may be gone). */
  stop(): void {
    this.stopped = true;
    for (const cancel of this.pending.values()) cancel();
    this.pending.clear();
  }
}
