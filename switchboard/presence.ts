// Which supervisors the other switchboard replicas of one database hold, as their change-feed
// notices tell: each replica names its supervisors when one connects or goes and every
// HEARTBEAT_MS; a replica not heard from for EXPIRY_MS (killed, cut off) holds none any more.

/** How often a replica names the supervisors it holds. */
export const HEARTBEAT_MS = 5_000;
/** A replica silent this long is taken for gone. */
export const EXPIRY_MS = 3 * HEARTBEAT_MS;

interface Replica {
  supervisors: Set<string>;
  heardAt: number;
}

export class Presence {
  private readonly replicas = new Map<string, Replica>();

  /** `replica` holds `supervisors` now: all it holds for part 0, more of them for later parts. */
  holds(replica: string, supervisors: readonly string[], part: number, now: number): void {
    const known = this.replicas.get(replica);
    if (part === 0 || !known) this.replicas.set(replica, { supervisors: new Set(supervisors), heardAt: now });
    else for (const s of supervisors) known.supervisors.add(s);
  }

  /** `supervisor` connected to `replica`: no other replica holds it now. */
  connected(replica: string, supervisor: string, now: number): void {
    for (const [id, r] of this.replicas) if (id !== replica) r.supervisors.delete(supervisor);
    const r = this.replicas.get(replica);
    if (r) {
      r.supervisors.add(supervisor);
      r.heardAt = now;
    } else {
      this.replicas.set(replica, { supervisors: new Set([supervisor]), heardAt: now });
    }
  }

  /** A supervisor connected here: no other replica holds it. */
  connectedHere(supervisor: string): void {
    for (const r of this.replicas.values()) r.supervisors.delete(supervisor);
  }

  /** Whether another replica holds `supervisor`. */
  elsewhere(supervisor: string): boolean {
    for (const r of this.replicas.values()) if (r.supervisors.has(supervisor)) return true;
    return false;
  }

  /** Forgets replicas not heard from since `now - EXPIRY_MS`; returns the supervisors they held. */
  expire(now: number): string[] {
    const gone: string[] = [];
    for (const [id, r] of this.replicas) {
      if (now - r.heardAt < EXPIRY_MS) continue;
      this.replicas.delete(id);
      gone.push(...r.supervisors);
    }
    return gone.filter((s) => !this.elsewhere(s));
  }
}
