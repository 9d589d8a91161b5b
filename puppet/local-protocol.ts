// Requests the local CLI sends to the daemon over its Unix socket: one JSON line each way.

import {
  ValidationError,
  expectNullableString,
  expectObject,
  expectString,
  oneOf,
  parseJson,
} from '../protocol/validation.js';
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

/** Validates a request line; throws ValidationError with a one-line reason. */
export function parseLocalRequest(line: string): LocalRequest {
  const o = expectObject(parseJson(line, 'request'), 'request');
  const op = o['op'];
  switch (op) {
    case 'ping':
    case 'terminate':
    case 'jobinfo':
      return { op };
    case 'substate':
      return { op, substate: expectString(o['substate'], 'substate') };
    case 'finish': {
      const status = oneOf(o['status'], WORKLOAD_EXIT_STATUSES, 'status');
      const output = expectNullableString(o['output'] ?? null, 'output');
      return { op, status, output, terminate: o['terminate'] === true };
    }
    default:
      throw new ValidationError(`unknown op ${typeNameForLog(op)}`);
  }
}

/**
 * Validates a response line from the daemon; throws ValidationError if it is not an object. Fields
 * of the wrong type are left out, so an older or newer daemon's answer still reads.
 */
export function parseLocalResponse(line: string): LocalResponse {
  const o = expectObject(parseJson(line, "the daemon's response"), "the daemon's response");
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
