// Wire shapes of the REST extensions this client uses that protocol/ does not define yet: who holds
// a supervisor, the named-system tag. (Job list queries and pages, and event pages, are in
// protocol/job-query.ts and protocol/switchboard-api.ts.) Each parser takes an
// answer without them (upstream's, or an older switchboard's) and says so by `undefined`.

import { parseSupervisorStatus, type ApiSupervisorStatusExt } from '../protocol/switchboard-api.js';
import { ValidationError, expectObject, isUuid } from '../protocol/validation.js';
import { typeName } from './json-text.js';

/** A job tag that only the supervisor of that name or id matches: a "named system" (mq's `-s`). */
export const SUPERVISOR_TAG_PREFIX = 'tml.supervisor:';

/** Who holds a supervisor, from the extra keys of its status (undefined: not reported). */
export interface SupervisorHolder {
  job_owner?: string | null;
  job_since?: string | null;
}

export type SupervisorStatusFull = ApiSupervisorStatusExt & SupervisorHolder;

const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)$/i;

export function parseSupervisorStatusFull(value: unknown, where = 'status'): SupervisorStatusFull {
  const status: SupervisorStatusFull = parseSupervisorStatus(value, where);
  const obj = value as Record<string, unknown>;
  if (obj.job_owner !== undefined) {
    if (obj.job_owner !== null && typeof obj.job_owner !== 'string') {
      throw new ValidationError(`${where}.job_owner must be a string or null, got ${typeName(obj.job_owner)}`);
    }
    status.job_owner = obj.job_owner;
  }
  if (obj.job_since !== undefined) {
    if (obj.job_since !== null && (typeof obj.job_since !== 'string' || !RFC3339.test(obj.job_since))) {
      throw new ValidationError(`${where}.job_since must be an RFC 3339 time or null`);
    }
    status.job_since = obj.job_since;
  }
  return status;
}

export function parseSupervisorListFull(value: unknown): Record<string, SupervisorStatusFull> {
  const obj = expectObject(value, 'supervisor list answer');
  if (obj.type !== 'ok') throw new ValidationError(`supervisor list answer has type ${JSON.stringify(obj.type)}`);
  const map = expectObject(obj.supervisors, 'supervisors');
  const out: Record<string, SupervisorStatusFull> = {};
  for (const [id, s] of Object.entries(map)) {
    if (!isUuid(id)) {
      throw new ValidationError('supervisors key must be a UUID');
    }
    out[id] = parseSupervisorStatusFull(s, `supervisors.${id}`);
  }
  return out;
}

export function parseSupervisorStatusFullAnswer(value: unknown): SupervisorStatusFull {
  const obj = expectObject(value, 'supervisor status answer');
  if (obj.type !== 'ok') throw new ValidationError(`supervisor status answer has type ${JSON.stringify(obj.type)}`);
  return parseSupervisorStatusFull(obj.status);
}
