// A clock for tests: time stands still until advance() moves it, firing what falls due in order.

import type { Clock } from '../../switchboard/deadlines.js';

export class FakeClock implements Clock {
  private time: number;
  private timers: Array<{ at: number; n: number; fire: () => void }> = [];
  private n = 0;

  constructor(start = Date.UTC(2026, 0, 1)) {
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  schedule(ms: number, fire: () => void): () => void {
    const timer = { at: this.time + Math.max(0, ms), n: this.n++, fire };
    this.timers.push(timer);
    return () => (this.timers = this.timers.filter((t) => t !== timer));
  }

  /** Moves time on by `ms`, firing each timer due by then at its own time (timers set meanwhile too). */
  advance(ms: number): void {
    const end = this.time + ms;
    for (;;) {
      const due = this.timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at || a.n - b.n)[0];
      if (!due) break;
      this.timers = this.timers.filter((t) => t !== due);
      this.time = due.at;
      due.fire();
    }
    this.time = end;
  }
}
