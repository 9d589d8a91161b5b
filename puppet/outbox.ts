// What the puppet holds for the supervisor while disconnected: a bounded queue that, when full,
// gives up the least valuable item, and never an accepted job report in favour of a newer one.

import type { PuppetEventType } from '../protocol/control-socket/messages.js';

/** Higher ranks are kept longer: a lost exit status is worse than a lost sub-state, which is worse than a gap in a log. */
export const Keep = { Output: 0, Substate: 1, Event: 2, Report: 3 } as const;
export type Keep = (typeof Keep)[keyof typeof Keep];

export function keepRank(type: PuppetEventType): Keep {
  switch (type) {
    case 'runcommandoutput':
      return Keep.Output;
    case 'reportsubstate':
      return Keep.Substate;
    case 'declareworkloadexitstatus':
    case 'terminatejob':
      return Keep.Report;
    default:
      return Keep.Event;
  }
}

export interface Queued {
  frame: Buffer;
  keep: Keep;
  /** set for this project's events, which only a supervisor that listed them may be sent */
  extension?: string;
  /** called once the frame reached the socket, or with the reason it never will */
  written?: (err?: Error) => void;
}

/** Thrown to the sender of a report the full queue refused, and passed to `written` of one it gave up. */
export class QueueFullError extends Error {}

export class Outbox {
  #items: Queued[] = [];
  #bytes = 0;

  constructor(readonly limit: number) {}

  get length(): number {
    return this.#items.length;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /**
   * Adds an item. Beyond the limit, the lowest-ranked item goes: the oldest command output, else
   * the new item itself if nothing ranks below it, so its sender hears of it now (QueueFullError
   * is thrown and `written` not called), else the oldest item of the lowest rank, whose `written`
   * gets the QueueFullError. Returns the item given up, or null.
   */
  push(item: Queued): Queued | null {
    this.#items.push(item);
    this.#bytes += item.frame.length;
    if (this.#items.length <= this.limit) return null;
    let lowest = item.keep;
    for (const q of this.#items) if (q.keep < lowest) lowest = q.keep;
    const index =
      lowest === item.keep && lowest !== Keep.Output
        ? this.#items.length - 1
        : this.#items.findIndex((q) => q.keep === lowest);
    const [victim] = this.#items.splice(index, 1) as [Queued];
    this.#bytes -= victim.frame.length;
    const err = new QueueFullError(
      `report dropped: the puppet's queue is full (${this.limit} events) while disconnected from the supervisor`,
    );
    if (victim === item && item.keep !== Keep.Output) throw err;
    victim.written?.(err);
    return victim;
  }

  /** Empties the queue, returning its items in order. */
  take(): Queued[] {
    const items = this.#items;
    this.#items = [];
    this.#bytes = 0;
    return items;
  }
}
