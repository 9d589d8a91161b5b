// The switchboard <-> supervisor WebSocket (subprotocol `treadmillv1`): messages each way and one
// validator per direction. Shapes follow docs/switchboard.md.

import {
  parseImageSpec,
  parseParameters,
  parseRestartPolicy,
  parseRunningJobState,
  parseSshKeys,
  type ImageSpec,
  type Parameters,
  type RestartPolicy,
  type RunningJobState,
  type UserExitStatus,
} from './job.js';
import {
  ValidationError,
  expectNullableString,
  expectObject,
  expectString,
  isUuid,
  oneOf,
  parseJson,
} from './validation.js';

export type JobEvent =
  | { type: 'state_transition'; new_state: RunningJobState; status_message: string | null }
  | { type: 'declare_exit_status'; user_exit_status: UserExitStatus; host_output: string | null }
  | { type: 'error'; error: { kind: string; message: string } }
  | { type: 'console_log'; console_bytes: number[] };

export interface StartJobMessage {
  job_id: string;
  image_spec: ImageSpec;
  ssh_keys: string[];
  restart_policy: RestartPolicy;
  parameters: Parameters;
}

export type SupervisorStatus = { type: 'idle' } | { type: 'ongoing_job'; job_id: string; job_state: RunningJobState };

/** Messages the switchboard sends on the supervisor WebSocket (subprotocol `treadmillv1`). */
export type ToSupervisor =
  | { type: 'start_job'; message: StartJobMessage }
  | { type: 'stop_job'; message: { job_id: string } }
  | { type: 'status_request'; message: { request_id: string; message: null } };

/** Messages a supervisor sends to the switchboard. */
export type ToSwitchboard =
  | {
      type: 'status_response';
      message: { response_to_request_id: string; message: SupervisorStatus };
    }
  | { type: 'supervisor_event'; message: { type: 'job_event'; job_id: string; event: JobEvent } };

export const WEBSOCKET_SUBPROTOCOL = 'treadmillv1';

/** Largest console_log payload a supervisor may send in one message. */
export const MAX_CONSOLE_BYTES_PER_MESSAGE = 64 * 1024;

export function parseJobEvent(value: unknown, where = 'event'): JobEvent {
  const obj = expectObject(value, where);
  const type = oneOf(
    obj.type,
    ['state_transition', 'declare_exit_status', 'error', 'console_log'] as const,
    `${where}.type`,
  );
  switch (type) {
    case 'state_transition':
      return {
        type,
        new_state: parseRunningJobState(obj.new_state, `${where}.new_state`),
        status_message:
          obj.status_message === undefined ? null : expectNullableString(obj.status_message, `${where}.status_message`),
      };
    case 'declare_exit_status':
      return {
        type,
        user_exit_status: oneOf(
          obj.user_exit_status,
          ['success', 'error', 'unknown'] as const,
          `${where}.user_exit_status`,
        ),
        host_output:
          obj.host_output === undefined ? null : expectNullableString(obj.host_output, `${where}.host_output`),
      };
    case 'error': {
      const err = expectObject(obj.error, `${where}.error`);
      return {
        type,
        error: {
          kind: expectString(err.kind, `${where}.error.kind`),
          message: expectString(err.message, `${where}.error.message`),
        },
      };
    }
    case 'console_log': {
      const bytes = obj.console_bytes;
      if (!Array.isArray(bytes)) throw new ValidationError(`${where}.console_bytes must be an array of bytes`);
      if (bytes.length > MAX_CONSOLE_BYTES_PER_MESSAGE) {
        throw new ValidationError(`${where}.console_bytes holds more than ${MAX_CONSOLE_BYTES_PER_MESSAGE} bytes`);
      }
      for (const b of bytes) {
        if (typeof b !== 'number' || !Number.isInteger(b) || b < 0 || b > 255) {
          throw new ValidationError(`${where}.console_bytes must hold integers from 0 to 255`);
        }
      }
      return { type, console_bytes: bytes as number[] };
    }
  }
}

/** Parses one WebSocket text message from a supervisor. */
export function parseToSwitchboard(text: string): ToSwitchboard {
  const obj = expectObject(parseJson(text, 'message'), 'message');
  const type = oneOf(obj.type, ['status_response', 'supervisor_event'] as const, 'message.type');
  const m = expectObject(obj.message, 'message.message');
  if (type === 'status_response') {
    if (!isUuid(m.response_to_request_id))
      throw new ValidationError('status_response.response_to_request_id must be a UUID');
    const s = expectObject(m.message, 'status_response.message');
    const st = oneOf(s.type, ['idle', 'ongoing_job'] as const, 'status_response.message.type');
    const status: SupervisorStatus =
      st === 'idle'
        ? { type: 'idle' }
        : {
            type: 'ongoing_job',
            job_id: isUuid(s.job_id)
              ? s.job_id
              : (() => {
                  throw new ValidationError('ongoing_job.job_id must be a UUID');
                })(),
            job_state: parseRunningJobState(s.job_state),
          };
    return { type, message: { response_to_request_id: m.response_to_request_id, message: status } };
  }
  if (m.type !== 'job_event') throw new ValidationError('supervisor_event.type must be job_event');
  if (!isUuid(m.job_id)) throw new ValidationError('supervisor_event.job_id must be a UUID');
  return { type, message: { type: 'job_event', job_id: m.job_id, event: parseJobEvent(m.event) } };
}

/** Parses one WebSocket text message from the switchboard (for supervisors). */
export function parseToSupervisor(text: string): ToSupervisor {
  const obj = expectObject(parseJson(text, 'message'), 'message');
  const type = oneOf(obj.type, ['start_job', 'stop_job', 'status_request'] as const, 'message.type');
  const m = expectObject(obj.message, 'message.message');
  if (type === 'stop_job') {
    if (!isUuid(m.job_id)) throw new ValidationError('stop_job.job_id must be a UUID');
    return { type, message: { job_id: m.job_id } };
  }
  if (type === 'status_request') {
    if (!isUuid(m.request_id)) throw new ValidationError('status_request.request_id must be a UUID');
    return { type, message: { request_id: m.request_id, message: null } };
  }
  if (!isUuid(m.job_id)) throw new ValidationError('start_job.job_id must be a UUID');
  return {
    type,
    message: {
      job_id: m.job_id,
      image_spec: parseImageSpec(m.image_spec),
      ssh_keys: parseSshKeys(m.ssh_keys),
      restart_policy: parseRestartPolicy(m.restart_policy),
      parameters: parseParameters(m.parameters),
    },
  };
}

// A start_job that fails validation but names a valid job id is reported with that id, so the
// supervisor can fail the job at once instead of leaving it to its timeout.

export type ParseResult = { ok: true; message: ToSupervisor } | { ok: false; error: string; jobId?: string };

function startJobId(text: string): string | undefined {
  try {
    const raw = JSON.parse(text) as { type?: unknown; message?: { job_id?: unknown } };
    const jobId = raw.message?.job_id;
    return raw.type === 'start_job' && isUuid(jobId) ? jobId : undefined;
  } catch {
    return undefined;
  }
}

export function parseToSupervisorForJob(text: string): ParseResult {
  try {
    return { ok: true, message: parseToSupervisor(text) };
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    const failed: ParseResult = { ok: false, error: err.message };
    const jobId = startJobId(text);
    if (jobId !== undefined) failed.jobId = jobId;
    return failed;
  }
}
