// Requests the local CLI sends to the daemon over its Unix socket: one JSON line each way.

import {
  WORKLOAD_EXIT_STATUSES,
  typeNameForLog,
  type WorkloadExitStatus,
} from '../protocol/control-socket/messages.js';

export type LocalRequest =
  | { op: 'ping' }
  | { op: 'finish'; status: WorkloadExitStatus; output: string | null; terminate: boolean }
  | { op: 'substate'; substate: string }
  | { op: 'terminate' }
  | { op: 'jobinfo' };

export type LocalResponse =
  | {
      ok: true;
      job_id?: string;
      host_id?: string;
      connected?: boolean;
      /** whether the supervisor takes workload reports; null while that is not known */
      reports?: boolean | null;
    }
  | {
      ok: false;
      error: string;
      /** set when the report was refused because the supervisor cannot take workload reports */
      unsupported?: true;
    };

/** Validates a request line; returns the request or an error message. */
export function parseLocalRequest(line: string): LocalRequest | string {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return 'request is not valid JSON';
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'request must be a JSON object';
  const o = v as Record<string, unknown>;
  switch (o['op']) {
    case 'ping':
    case 'terminate':
    case 'jobinfo':
      return { op: o['op'] };
    case 'substate':
      return typeof o['substate'] === 'string'
        ? { op: 'substate', substate: o['substate'] }
        : 'substate must be a string';
    case 'finish': {
      const status = o['status'];
      if (typeof status !== 'string' || !(WORKLOAD_EXIT_STATUSES as readonly string[]).includes(status)) {
        return `status must be one of ${WORKLOAD_EXIT_STATUSES.join(', ')}`;
      }
      const output = o['output'] ?? null;
      if (output !== null && typeof output !== 'string') return 'output must be a string';
      return { op: 'finish', status: status as WorkloadExitStatus, output, terminate: o['terminate'] === true };
    }
    default:
      return `unknown op ${typeNameForLog(o['op'])}`;
  }
}

/** Validates a response line from the daemon. */
export function parseLocalResponse(line: string): LocalResponse {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return { ok: false, error: 'daemon sent an invalid response' };
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    return { ok: false, error: 'daemon sent an invalid response' };
  const o = v as Record<string, unknown>;
  if (o['ok'] === true) {
    const r: LocalResponse = { ok: true };
    if (typeof o['job_id'] === 'string') r.job_id = o['job_id'];
    if (typeof o['host_id'] === 'string') r.host_id = o['host_id'];
    if (typeof o['connected'] === 'boolean') r.connected = o['connected'];
    if (typeof o['reports'] === 'boolean' || o['reports'] === null) r.reports = o['reports'];
    return r;
  }
  const r: LocalResponse = {
    ok: false,
    error: typeof o['error'] === 'string' ? o['error'] : 'daemon refused the request',
  };
  if (o['unsupported'] === true) r.unsupported = true;
  return r;
}
