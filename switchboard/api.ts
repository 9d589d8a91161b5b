// Wire types shared by the switchboard, the supervisor and the `tml` client.
// Shapes follow ../shared/spec/switchboard.md; names on the wire are snake_case.

export const EXECUTION_STATES = [
  'queued',
  'scheduled',
  'initializing',
  'ready',
  'terminating',
  'terminated',
] as const;
export type ExecutionState = (typeof EXECUTION_STATES)[number];

export const EXIT_STATUSES = [
  'supervisor_match_error',
  'queue_timeout',
  'internal_supervisor_error',
  'supervisor_host_start_error',
  'job_canceled',
  'workload_finished_success',
  'workload_finished_error',
  'workload_finished_unknown',
  'supervisor_dropped_job',
  'job_timeout',
] as const;
export type ExitStatus = (typeof EXIT_STATUSES)[number];

export const INIT_STAGES = ['starting', 'fetching_image', 'allocating', 'provisioning', 'booting'] as const;
export type InitStage = (typeof INIT_STAGES)[number];

export interface Parameter {
  value: string;
  secret: boolean;
}
export type Parameters = Record<string, Parameter>;

export interface RestartPolicy {
  remaining_restart_count: number;
}

export type ImageSpec = { type: 'image'; image_id: string } | { type: 'resume_job'; job_id: string };

/** Body of `POST /api/v1/jobs/new`. */
export interface JobRequest {
  init_spec: ImageSpec;
  ssh_keys: string[];
  restart_policy: RestartPolicy;
  parameters: Parameters;
  tag_config: string;
  /** Seconds; null uses the switchboard's default job timeout. */
  override_timeout: number | null;
}

/** A running job's state as a supervisor reports it. */
export type RunningJobState =
  | { state: 'initializing'; stage: InitStage }
  | { state: 'ready' }
  | { state: 'terminating' }
  | { state: 'terminated' };

export type UserExitStatus = 'success' | 'error' | 'unknown';

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

export type SupervisorStatus =
  | { type: 'idle' }
  | { type: 'ongoing_job'; job_id: string; job_state: RunningJobState };

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
export const API_PREFIX = '/api/v1';

// ---------------------------------------------------------------------------
// REST response shapes (extensions documented in docs/switchboard.md).

/** Every error response of the REST API. */
export interface ApiErrorBody {
  error: { code: string; message: string };
}

export interface EnqueueResponse {
  job_id: string;
}

export interface LoginRequest {
  user: string;
  password: string;
}

export interface LoginResponse {
  token: string;
  expires_at: string;
}

/** Parameters as the API shows them: secret values are never returned. */
export type MaskedParameters = Record<string, { secret: true } | { secret: false; value: string }>;

export interface JobStatusResponse {
  job_id: string;
  owner: string;
  state: ExecutionState;
  /** Informational stage while `initializing`. */
  stage: InitStage | null;
  /** Latest sub-state or status text reported for the current state. */
  status_message: string | null;
  exit_status: ExitStatus | null;
  /** The workload's host output or the error text that came with the exit status. */
  exit_message: string | null;
  supervisor_id: string | null;
  supervisor_name: string | null;
  tag_config: string;
  init_spec: ImageSpec;
  parameters: MaskedParameters;
  ssh_keys: string[];
  timeout_seconds: number | null;
  queued_at: string;
  scheduled_at: string | null;
  updated_at: string;
  terminated_at: string | null;
  /** Console bytes received so far (absolute offset of the end of the log). */
  log_bytes: number;
}

export type JobEventKind = 'state' | 'sub_state' | 'exit_status';

/** One entry of `GET /jobs/:id/events`. */
export interface JobEventRecord {
  at: string;
  kind: JobEventKind;
  by: 'switchboard' | 'supervisor';
  state: ExecutionState;
  stage: InitStage | null;
  status_message: string | null;
  exit_status: ExitStatus | null;
}

export type SupervisorConnectionStatus = 'idle' | 'busy' | 'disconnected';

export interface SupervisorInfo {
  id: string;
  name: string;
  tags: string[];
  status: SupervisorConnectionStatus;
  job_id: string | null;
}

// ---------------------------------------------------------------------------
// Runtime validators: untrusted input is parsed once, at the edge, by these.

export class ValidationError extends Error {
  override name = 'ValidationError';
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const IMAGE_ID_RE = /^[0-9a-f]{64}$/;

export function isUuid(value: unknown): value is string {
  return typeof value === 'string' && UUID_RE.test(value);
}

export function isImageId(value: unknown): value is string {
  return typeof value === 'string' && IMAGE_ID_RE.test(value);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function expectObject(value: unknown, where: string): Record<string, unknown> {
  if (!isObject(value)) throw new ValidationError(`${where} must be an object`);
  return value;
}

function expectString(value: unknown, where: string): string {
  if (typeof value !== 'string') throw new ValidationError(`${where} must be a string`);
  return value;
}

function expectNullableString(value: unknown, where: string): string | null {
  if (value === null) return null;
  return expectString(value, where);
}

function rejectUnknownKeys(obj: Record<string, unknown>, allowed: readonly string[], where: string): void {
  for (const key of Object.keys(obj)) {
    if (!allowed.includes(key)) throw new ValidationError(`${where} has unknown field "${key}"`);
  }
}

function oneOf<T extends string>(value: unknown, options: readonly T[], where: string): T {
  if (typeof value !== 'string' || !(options as readonly string[]).includes(value)) {
    throw new ValidationError(`${where} must be one of ${options.join(', ')}`);
  }
  return value as T;
}

export function parseImageSpec(value: unknown, where = 'init_spec'): ImageSpec {
  const obj = expectObject(value, where);
  const type = oneOf(obj.type, ['image', 'resume_job'] as const, `${where}.type`);
  if (type === 'image') {
    rejectUnknownKeys(obj, ['type', 'image_id'], where);
    if (!isImageId(obj.image_id)) throw new ValidationError(`${where}.image_id must be 64 lowercase hex digits`);
    return { type, image_id: obj.image_id };
  }
  rejectUnknownKeys(obj, ['type', 'job_id'], where);
  if (!isUuid(obj.job_id)) throw new ValidationError(`${where}.job_id must be a UUID`);
  return { type, job_id: obj.job_id };
}

/** Longest override_timeout accepted, in seconds (30 days). */
export const MAX_TIMEOUT_SECONDS = 30 * 24 * 3600;
export const MAX_PARAMETERS = 256;
export const MAX_SSH_KEYS = 64;

// Parameter names become file names under /run/tml/parameters in the host.
const PARAMETER_NAME_RE = /^[A-Za-z0-9_.][A-Za-z0-9_.:-]{0,254}$/;

export function parseParameters(value: unknown, where = 'parameters'): Parameters {
  const obj = expectObject(value, where);
  const names = Object.keys(obj);
  if (names.length > MAX_PARAMETERS) throw new ValidationError(`${where} has more than ${MAX_PARAMETERS} entries`);
  const out: Parameters = {};
  for (const name of names) {
    if (!PARAMETER_NAME_RE.test(name) || name === '.' || name === '..') {
      throw new ValidationError(`${where}: invalid parameter name ${JSON.stringify(name.slice(0, 64))} (letters, digits, _ . : - only)`);
    }
    const p = expectObject(obj[name], `${where}.${name}`);
    rejectUnknownKeys(p, ['value', 'secret'], `${where}.${name}`);
    // Never echo the value: it may be a secret.
    const v = expectString(p.value, `${where}.${name}.value`);
    const secret = p.secret === undefined ? false : p.secret;
    if (typeof secret !== 'boolean') throw new ValidationError(`${where}.${name}.secret must be a boolean`);
    out[name] = { value: v, secret };
  }
  return out;
}

/**
 * Validates a `POST /jobs/new` body. `ssh_keys`, `restart_policy`, `parameters`, `tag_config` and
 * `override_timeout` may be omitted (empty / zero / null); unknown fields are rejected so typos surface.
 */
export function parseJobRequest(value: unknown): JobRequest {
  const obj = expectObject(value, 'job request');
  rejectUnknownKeys(
    obj,
    ['init_spec', 'ssh_keys', 'restart_policy', 'parameters', 'tag_config', 'override_timeout'],
    'job request',
  );
  if (obj.init_spec === undefined) throw new ValidationError('job request is missing init_spec');
  const init_spec = parseImageSpec(obj.init_spec);
  const ssh_keys: string[] = [];
  if (obj.ssh_keys !== undefined) {
    if (!Array.isArray(obj.ssh_keys)) throw new ValidationError('ssh_keys must be an array of strings');
    if (obj.ssh_keys.length > MAX_SSH_KEYS) throw new ValidationError(`ssh_keys has more than ${MAX_SSH_KEYS} entries`);
    obj.ssh_keys.forEach((k, i) => {
      const key = expectString(k, `ssh_keys[${i}]`);
      if (key.trim() === '' || /[\r\n]/.test(key)) throw new ValidationError(`ssh_keys[${i}] must be one non-empty line`);
      ssh_keys.push(key);
    });
  }
  let restart_policy: RestartPolicy = { remaining_restart_count: 0 };
  if (obj.restart_policy !== undefined) {
    const rp = expectObject(obj.restart_policy, 'restart_policy');
    rejectUnknownKeys(rp, ['remaining_restart_count'], 'restart_policy');
    const n = rp.remaining_restart_count;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 1000) {
      throw new ValidationError('restart_policy.remaining_restart_count must be an integer from 0 to 1000');
    }
    restart_policy = { remaining_restart_count: n };
  }
  const parameters = obj.parameters === undefined ? {} : parseParameters(obj.parameters);
  const tag_config = obj.tag_config === undefined ? '' : expectString(obj.tag_config, 'tag_config');
  if (tag_config.length > 4096) throw new ValidationError('tag_config is longer than 4096 characters');
  let override_timeout: number | null = null;
  if (obj.override_timeout !== undefined && obj.override_timeout !== null) {
    const t = obj.override_timeout;
    if (typeof t !== 'number' || !Number.isInteger(t) || t <= 0 || t > MAX_TIMEOUT_SECONDS) {
      throw new ValidationError(`override_timeout must be null or an integer number of seconds from 1 to ${MAX_TIMEOUT_SECONDS}`);
    }
    override_timeout = t;
  }
  return { init_spec, ssh_keys, restart_policy, parameters, tag_config, override_timeout };
}

export function parseLoginRequest(value: unknown): LoginRequest {
  const obj = expectObject(value, 'login request');
  rejectUnknownKeys(obj, ['user', 'password'], 'login request');
  return { user: expectString(obj.user, 'user'), password: expectString(obj.password, 'password') };
}

export function parseRunningJobState(value: unknown, where = 'job_state'): RunningJobState {
  const obj = expectObject(value, where);
  const state = oneOf(obj.state, ['initializing', 'ready', 'terminating', 'terminated'] as const, `${where}.state`);
  if (state === 'initializing') return { state, stage: oneOf(obj.stage, INIT_STAGES, `${where}.stage`) };
  return { state };
}

/** Largest console_log payload a supervisor may send in one message. */
export const MAX_CONSOLE_BYTES_PER_MESSAGE = 64 * 1024;

export function parseJobEvent(value: unknown, where = 'event'): JobEvent {
  const obj = expectObject(value, where);
  const type = oneOf(obj.type, ['state_transition', 'declare_exit_status', 'error', 'console_log'] as const, `${where}.type`);
  switch (type) {
    case 'state_transition':
      return {
        type,
        new_state: parseRunningJobState(obj.new_state, `${where}.new_state`),
        status_message: obj.status_message === undefined ? null : expectNullableString(obj.status_message, `${where}.status_message`),
      };
    case 'declare_exit_status':
      return {
        type,
        user_exit_status: oneOf(obj.user_exit_status, ['success', 'error', 'unknown'] as const, `${where}.user_exit_status`),
        host_output: obj.host_output === undefined ? null : expectNullableString(obj.host_output, `${where}.host_output`),
      };
    case 'error': {
      const err = expectObject(obj.error, `${where}.error`);
      return { type, error: { kind: expectString(err.kind, `${where}.error.kind`), message: expectString(err.message, `${where}.error.message`) } };
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

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new ValidationError(`${what} is not valid JSON`);
  }
}

/** Parses one WebSocket text message from a supervisor. */
export function parseToSwitchboard(text: string): ToSwitchboard {
  const obj = expectObject(parseJson(text, 'message'), 'message');
  const type = oneOf(obj.type, ['status_response', 'supervisor_event'] as const, 'message.type');
  const m = expectObject(obj.message, 'message.message');
  if (type === 'status_response') {
    if (!isUuid(m.response_to_request_id)) throw new ValidationError('status_response.response_to_request_id must be a UUID');
    const s = expectObject(m.message, 'status_response.message');
    const st = oneOf(s.type, ['idle', 'ongoing_job'] as const, 'status_response.message.type');
    const status: SupervisorStatus =
      st === 'idle'
        ? { type: 'idle' }
        : {
            type: 'ongoing_job',
            job_id: isUuid(s.job_id) ? s.job_id : (() => { throw new ValidationError('ongoing_job.job_id must be a UUID'); })(),
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
  const req = parseJobRequest({
    init_spec: m.image_spec,
    ssh_keys: m.ssh_keys,
    restart_policy: m.restart_policy,
    parameters: m.parameters,
  });
  return {
    type,
    message: {
      job_id: m.job_id,
      image_spec: req.init_spec,
      ssh_keys: req.ssh_keys,
      restart_policy: req.restart_policy,
      parameters: req.parameters,
    },
  };
}
