// Supervisors seen as mq's systems and pools: a supervisor is named by its name or id, a pool is
// a tag, and "who holds it" is the job it runs. The switchboard's queue is the only lock: waiting
// for a supervisor is watching its status, releasing one is canceling the job it holds.

import { UsageError } from '../protocol/cli.js';
import { isUuid } from '../protocol/validation.js';
import type { SupervisorStatusFull } from './api-ext.js';

export type Availability = 'idle' | 'busy' | 'disconnected';

/** idle: connected, no job; busy: connected with a job; disconnected: not connected (with or without one). */
export function availability(s: SupervisorStatusFull): Availability {
  if (s.status === 'idle') return 'idle';
  if (s.status === 'busy') return 'busy';
  return 'disconnected';
}

export interface Pool {
  tag: string;
  /** Names (or ids, where the switchboard gives no names) of the supervisors with this tag. */
  members: string[];
  idle: number;
  busy: number;
  disconnected: number;
}

/** Every tag any supervisor has, with how many of its supervisors are idle, busy or disconnected. */
export function pools(list: Record<string, SupervisorStatusFull>): Pool[] {
  const byTag = new Map<string, Pool>();
  for (const [id, s] of Object.entries(list)) {
    for (const tag of new Set(s.tags ?? [])) {
      let p = byTag.get(tag);
      if (!p) byTag.set(tag, (p = { tag, members: [], idle: 0, busy: 0, disconnected: 0 }));
      p.members.push(s.name ?? id);
      p[availability(s)]++;
    }
  }
  for (const p of byTag.values()) p.members.sort();
  return [...byTag.values()].sort((a, b) => (a.tag < b.tag ? -1 : a.tag > b.tag ? 1 : 0));
}

/** The id of the supervisor a user named by id or name; unknown or ambiguous names say so. */
export function findSupervisor(list: Record<string, SupervisorStatusFull>, ref: string): string {
  if (Object.hasOwn(list, ref)) return ref;
  const named = Object.entries(list)
    .filter(([, s]) => s.name === ref)
    .map(([id]) => id);
  if (named.length === 1) return named[0]!;
  if (named.length > 1)
    throw new UsageError(`${named.length} supervisors are named "${ref}": give an id (${named.join(', ')})`);
  if (isUuid(ref)) return ref;
  const names = Object.values(list).some((s) => s.name !== undefined);
  throw new UsageError(
    names
      ? `no supervisor named "${ref}" (tml supervisor list shows them)`
      : `"${ref}" is not a supervisor id, and this switchboard reports no names: give an id`,
  );
}

/** "held by alice since 2025-...: job J", or null for a supervisor that holds no job. */
export function holderText(s: SupervisorStatusFull): string | null {
  if (!('job_id' in s)) return null;
  const who = s.job_owner ? ` by ${s.job_owner}` : '';
  const since = s.job_since ? ` since ${s.job_since}` : '';
  return `held${who}${since} (job ${s.job_id})`;
}
