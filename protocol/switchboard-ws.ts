// The switchboard <-> supervisor WebSocket (subprotocol `treadmillv1`): messages each way, the
// `tml-socket-config` header of the 101 answer, close codes and supervisor tokens, with one
// validator per direction. Shapes are upstream's (treadmill-rs `api::switchboard_supervisor`,
// `connector::JobError`), as serde writes them; parsers tolerate extra keys as serde does.

import {
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
  isImageId,
  isUuid,
  oneOf,
  parseJson,
} from './validation.js';

export const WEBSOCKET_SUBPROTOCOL = 'treadmillv1';

// -- errors a supervisor reports for a job (upstream `JobErrorKind`, serialized PascalCase) --

export const JOB_ERROR_KINDS = [
  'AlreadyRunning',
  'AlreadyStopping',
  'JobAlreadyExists',
  'CannotResume',
  'JobNotFound',
  'MaxConcurrentJobs',
  'ImageNotFound',
  'ImageInvalid',
  'ImageNotCompatible',
  'InternalError',
] as const;
export type JobErrorKind = (typeof JOB_ERROR_KINDS)[number];

export interface JobError {
  error_kind: JobErrorKind;
  description: string;
}

export type JobEvent =
  | { type: 'state_transition'; new_state: RunningJobState; status_message: string | null }
  | { type: 'declare_exit_status'; user_exit_status: UserExitStatus; host_output: string | null }
  | { type: 'error'; error: JobError }
  | { type: 'console_log'; console_bytes: number[] };

/** Late-2024 supervisors require this key in start_job (an empty array is fine); 2025 ones ignore it. */
export interface RendezvousServerSpec {
  client_id: string;
  server_base_url: string;
  auth_token: string;
}

/** Keys in upstream's declaration order, which is the order serde writes them in. */
export interface StartJobMessage {
  job_id: string;
  image_spec: ImageSpec;
  ssh_keys: string[];
  restart_policy: RestartPolicy;
  ssh_rendezvous_servers: RendezvousServerSpec[];
  parameters: Parameters;
}

/** What of a job request a supervisor is sent (a `restart_job` spec already resolved to an image spec). */
export interface StartableRequest {
  init_spec: ImageSpec;
  ssh_keys: string[];
  restart_policy: RestartPolicy;
  parameters: Parameters;
}

/** The `start_job` message for job `jobId`: the one place it is built from a request. */
export function startJobMessage(jobId: string, req: StartableRequest): StartJobMessage {
  return {
    job_id: jobId,
    image_spec: req.init_spec,
    ssh_keys: req.ssh_keys,
    restart_policy: req.restart_policy,
    // Late-2024 supervisors refuse a start_job without it.
    ssh_rendezvous_servers: [],
    parameters: req.parameters,
  };
}

export type SupervisorStatus = { type: 'idle' } | { type: 'ongoing_job'; job_id: string; job_state: RunningJobState };

/** Messages the switchboard sends on the supervisor WebSocket. */
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

/** A supervisor's report on one of its jobs. */
export type SupervisorEventMessage = Extract<ToSwitchboard, { type: 'supervisor_event' }>;

/** Largest console_log payload a supervisor may send in one message. */
export const MAX_CONSOLE_BYTES_PER_MESSAGE = 64 * 1024;

// -- close codes (upstream `ProtocolErrorCode::close_code`, RFC 6455 private range) --

export const CLOSE_CODES = {
  /** A malformed or unexpected message was received. */
  protocol_violation: 4000,
  /** No common protocol version could be negotiated. */
  unsupported_version: 4001,
  /** An unexpected failure on the sending side. */
  internal_error: 4002,
  /** The switchboard replaced this connection with a newer one of the same supervisor. */
  superseded: 4003,
} as const;
export type CloseCode = (typeof CLOSE_CODES)[keyof typeof CLOSE_CODES];

// -- the `tml-socket-config` header of the switchboard's 101 answer --

export const SOCKET_CONFIG_HEADER = 'tml-socket-config';

/** Milliseconds: how often the switchboard pings, and how long either side waits before giving up. */
export interface Keepalive {
  pingIntervalMs: number;
  keepaliveMs: number;
}

export const DEFAULT_KEEPALIVE: Keepalive = { pingIntervalMs: 2000, keepaliveMs: 10_000 };

/** A duration as upstream writes it ("2s"); milliseconds when not whole seconds ("1500ms"). */
export function formatWireDuration(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

// Upstream parses these with fundu's default parser: a decimal number (exponent allowed), no unit
// meaning seconds, and the units below ("Ms" is microseconds there, case matters).
const WIRE_UNITS_MS: Record<string, number> = {
  ns: 1e-6,
  Ms: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};
const WIRE_DURATION_RE = /^\+?((?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)(ns|Ms|ms|s|m|h|d|w)?$/;

/** Milliseconds of a duration string as upstream sends it; throws ValidationError. */
export function parseWireDuration(text: string, where: string): number {
  const m = WIRE_DURATION_RE.exec(text.trim());
  const ms = m ? Number(m[1]) * WIRE_UNITS_MS[m[2] ?? 's']! : NaN;
  if (!Number.isFinite(ms) || ms > 2 ** 31 - 1) {
    throw new ValidationError(`${where} must be a duration such as "2s" or "500ms", got ${JSON.stringify(text)}`);
  }
  return Math.round(ms);
}

export function encodeSocketConfig(k: Keepalive): string {
  return JSON.stringify({
    keepalive: { ping_interval: formatWireDuration(k.pingIntervalMs), keepalive: formatWireDuration(k.keepaliveMs) },
  });
}

export function parseSocketConfig(text: string): Keepalive {
  const obj = expectObject(parseJson(text, SOCKET_CONFIG_HEADER), SOCKET_CONFIG_HEADER);
  const k = expectObject(obj.keepalive, `${SOCKET_CONFIG_HEADER}.keepalive`);
  const pingIntervalMs = parseWireDuration(
    expectString(k.ping_interval, `${SOCKET_CONFIG_HEADER}.keepalive.ping_interval`),
    `${SOCKET_CONFIG_HEADER}.keepalive.ping_interval`,
  );
  const keepaliveMs = parseWireDuration(
    expectString(k.keepalive, `${SOCKET_CONFIG_HEADER}.keepalive.keepalive`),
    `${SOCKET_CONFIG_HEADER}.keepalive.keepalive`,
  );
  if (keepaliveMs <= 0) throw new ValidationError(`${SOCKET_CONFIG_HEADER}.keepalive.keepalive must be positive`);
  return { pingIntervalMs, keepaliveMs };
}

// -- supervisor tokens --

/** Upstream's tokens are 128 random bytes; its switchboard reads the bearer as padded standard base64. */
export const SUPERVISOR_TOKEN_BYTES = 128;
const BASE64_RE = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * The padded standard base64 form upstream sends of a 128-byte token written with or without padding
 * (upstream's example configs hold unpadded ones), or null when the text is not such a token.
 */
export function canonicalSupervisorToken(text: string): string | null {
  const t = text.trim();
  if (!BASE64_RE.test(t) || t.replace(/=+$/, '').length % 4 === 1) return null;
  const bytes = Buffer.from(t, 'base64');
  if (bytes.length !== SUPERVISOR_TOKEN_BYTES) return null;
  const canonical = bytes.toString('base64');
  return canonical.replace(/=+$/, '') === t.replace(/=+$/, '') ? canonical : null;
}

// -- parsers --

function parseJobError(value: unknown, where: string): JobError {
  const err = expectObject(value, where);
  return {
    error_kind: oneOf(err.error_kind, JOB_ERROR_KINDS, `${where}.error_kind`),
    description: expectString(err.description, `${where}.description`),
  };
}

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
    case 'error':
      return { type, error: parseJobError(obj.error, `${where}.error`) };
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

function expectUuid(value: unknown, where: string): string {
  if (!isUuid(value)) throw new ValidationError(`${where} must be a UUID`);
  return value;
}

function parseSupervisorStatus(value: unknown, where: string): SupervisorStatus {
  const s = expectObject(value, where);
  const type = oneOf(s.type, ['idle', 'ongoing_job'] as const, `${where}.type`);
  if (type === 'idle') return { type };
  return {
    type,
    job_id: expectUuid(s.job_id, `${where}.job_id`),
    job_state: parseRunningJobState(s.job_state, `${where}.job_state`),
  };
}

/** Parses one WebSocket text message from a supervisor. */
export function parseToSwitchboard(text: string): ToSwitchboard {
  const obj = expectObject(parseJson(text, 'message'), 'message');
  const type = oneOf(obj.type, ['status_response', 'supervisor_event'] as const, 'message.type');
  const m = expectObject(obj.message, 'message.message');
  if (type === 'status_response') {
    return {
      type,
      message: {
        response_to_request_id: expectUuid(m.response_to_request_id, 'status_response.response_to_request_id'),
        message: parseSupervisorStatus(m.message, 'status_response.message'),
      },
    };
  }
  if (m.type !== 'job_event') throw new ValidationError('supervisor_event.type must be job_event');
  return {
    type,
    message: {
      type: 'job_event',
      job_id: expectUuid(m.job_id, 'supervisor_event.job_id'),
      event: parseJobEvent(m.event),
    },
  };
}

// Upstream's image specification, tolerating extra keys as serde does.
function parseWireImageSpec(value: unknown, where: string): ImageSpec {
  const obj = expectObject(value, where);
  const type = oneOf(obj.type, ['image', 'resume_job'] as const, `${where}.type`);
  if (type === 'resume_job') return { type, job_id: expectUuid(obj.job_id, `${where}.job_id`) };
  if (!isImageId(obj.image_id)) throw new ValidationError(`${where}.image_id must be 64 lowercase hex digits`);
  return { type, image_id: obj.image_id };
}

const MAX_RENDEZVOUS_SERVERS = 64;

function parseRendezvousServers(value: unknown): RendezvousServerSpec[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new ValidationError('start_job.ssh_rendezvous_servers must be an array');
  if (value.length > MAX_RENDEZVOUS_SERVERS) {
    throw new ValidationError(`start_job.ssh_rendezvous_servers has more than ${MAX_RENDEZVOUS_SERVERS} entries`);
  }
  return value.map((v, i) => {
    const where = `start_job.ssh_rendezvous_servers[${i}]`;
    const s = expectObject(v, where);
    return {
      client_id: expectUuid(s.client_id, `${where}.client_id`),
      server_base_url: expectString(s.server_base_url, `${where}.server_base_url`),
      auth_token: expectString(s.auth_token, `${where}.auth_token`),
    };
  });
}

function parseStartJob(m: Record<string, unknown>): StartJobMessage {
  const job_id = expectUuid(m.job_id, 'start_job.job_id');
  // Switchboards before late August 2024 called the image specification `init_spec`.
  const spec = m.image_spec !== undefined ? m.image_spec : m.init_spec;
  if (spec === undefined) throw new ValidationError('start_job is missing image_spec');
  const image_spec = parseWireImageSpec(spec, 'start_job.image_spec');
  // Upstream requires these three keys; their checks are the job request's.
  for (const key of ['ssh_keys', 'restart_policy', 'parameters'] as const) {
    if (m[key] === undefined) throw new ValidationError(`start_job is missing ${key}`);
  }
  return {
    job_id,
    image_spec,
    ssh_keys: parseSshKeys(m.ssh_keys),
    restart_policy: parseRestartPolicy(m.restart_policy),
    ssh_rendezvous_servers: parseRendezvousServers(m.ssh_rendezvous_servers),
    parameters: parseParameters(m.parameters),
  };
}

/** Parses one WebSocket text message from the switchboard (for supervisors). */
export function parseToSupervisor(text: string): ToSupervisor {
  const obj = expectObject(parseJson(text, 'message'), 'message');
  const type = oneOf(obj.type, ['start_job', 'stop_job', 'status_request'] as const, 'message.type');
  const m = expectObject(obj.message, 'message.message');
  if (type === 'stop_job') return { type, message: { job_id: expectUuid(m.job_id, 'stop_job.job_id') } };
  if (type === 'status_request') {
    return { type, message: { request_id: expectUuid(m.request_id, 'status_request.request_id'), message: null } };
  }
  return { type, message: parseStartJob(m) };
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

// -- our extensions (docs/switchboard.md, "WebSocket extensions") --
//
// Upstream's peers close the socket on a message they cannot parse, so each side sends an extension
// message only to a peer that named the extension in its `tml-extensions` header: the supervisor in
// its upgrade request, the switchboard in its 101 answer. Upstream's messages above are unchanged.

export const EXTENSIONS_HEADER = 'tml-extensions';

/** `ssh_endpoints`: supervisor -> switchboard; `console_input`: switchboard -> supervisor. */
export const WS_EXTENSIONS = ['ssh_endpoints', 'console_input'] as const;
export type WsExtension = (typeof WS_EXTENSIONS)[number];

/** Largest console_input payload in one message. */
export const MAX_CONSOLE_INPUT_BYTES = 4096;
const MAX_SSH_ENDPOINTS = 16;
const MAX_SSH_HOST_KEYS = 16;
const MAX_SSH_TEXT = 8192;

/** Where a user reaches a running job's host over SSH, as upstream's JobStatus carries it. */
export interface JobSshAccess {
  job_id: string;
  /** Empty: the host is not reachable over SSH (any more). */
  ssh_endpoints: Array<{ host: string; port: number }>;
  ssh_user: string | null;
  ssh_host_keys: string[] | null;
}

/** Extension messages a supervisor sends (only to a switchboard that named them). */
export type ExtToSwitchboard = { type: 'ssh_endpoints'; message: JobSshAccess };

/** Extension messages the switchboard sends (only to a supervisor that named them). */
export type ExtToSupervisor = { type: 'console_input'; message: { job_id: string; console_bytes: number[] } };

/** The extensions named in a `tml-extensions` header ("a, b"); unknown names are ignored. */
export function parseExtensionsHeader(value: string | string[] | undefined): Set<WsExtension> {
  const text = Array.isArray(value) ? value.join(',') : (value ?? '');
  const known = new Set<string>(WS_EXTENSIONS);
  return new Set(
    text
      .split(',')
      .map((s) => s.trim())
      .filter((s): s is WsExtension => known.has(s)),
  );
}

function boundedString(value: unknown, where: string): string {
  const s = expectString(value, where);
  if (s.length === 0 || s.length > MAX_SSH_TEXT) {
    throw new ValidationError(`${where} must be 1 to ${MAX_SSH_TEXT} characters`);
  }
  return s;
}

function parseSshAccess(m: Record<string, unknown>): JobSshAccess {
  const endpoints = m.ssh_endpoints;
  if (!Array.isArray(endpoints) || endpoints.length > MAX_SSH_ENDPOINTS) {
    throw new ValidationError(`ssh_endpoints.ssh_endpoints must be an array of at most ${MAX_SSH_ENDPOINTS}`);
  }
  const keys = m.ssh_host_keys;
  if (keys !== undefined && keys !== null && (!Array.isArray(keys) || keys.length > MAX_SSH_HOST_KEYS)) {
    throw new ValidationError(`ssh_endpoints.ssh_host_keys must be null or an array of at most ${MAX_SSH_HOST_KEYS}`);
  }
  return {
    job_id: expectUuid(m.job_id, 'ssh_endpoints.job_id'),
    ssh_endpoints: endpoints.map((e, i) => {
      const where = `ssh_endpoints.ssh_endpoints[${i}]`;
      const o = expectObject(e, where);
      const port = o.port;
      if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
        throw new ValidationError(`${where}.port must be a port number`);
      }
      return { host: boundedString(o.host, `${where}.host`), port };
    }),
    ssh_user:
      m.ssh_user === undefined || m.ssh_user === null ? null : boundedString(m.ssh_user, 'ssh_endpoints.ssh_user'),
    ssh_host_keys: Array.isArray(keys)
      ? keys.map((k, i) => boundedString(k, `ssh_endpoints.ssh_host_keys[${i}]`))
      : null,
  };
}

/** A message type is ours (an extension) rather than upstream's; decided before parsing the rest. */
function extensionType<T extends string>(text: string, types: readonly T[]): T | null {
  // Cheap pre-check: upstream's messages never name these types.
  if (!types.some((t) => text.includes(`"${t}"`))) return null;
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return null;
  }
  const type = (raw as { type?: unknown } | null)?.type;
  return types.find((t) => t === type) ?? null;
}

/**
 * Parses a supervisor's extension message; null when the text is not one (then it is upstream's,
 * for parseToSwitchboard). Throws ValidationError for a malformed extension message.
 */
export function parseExtToSwitchboard(text: string): ExtToSwitchboard | null {
  if (extensionType(text, ['ssh_endpoints'] as const) === null) return null;
  const obj = expectObject(parseJson(text, 'message'), 'message');
  return { type: 'ssh_endpoints', message: parseSshAccess(expectObject(obj.message, 'message.message')) };
}

/** Parses the switchboard's extension message; null when the text is not one (see parseExtToSwitchboard). */
export function parseExtToSupervisor(text: string): ExtToSupervisor | null {
  if (extensionType(text, ['console_input'] as const) === null) return null;
  const obj = expectObject(parseJson(text, 'message'), 'message');
  const m = expectObject(obj.message, 'message.message');
  const bytes = m.console_bytes;
  if (!Array.isArray(bytes) || bytes.length > MAX_CONSOLE_INPUT_BYTES) {
    throw new ValidationError(
      `console_input.console_bytes must be an array of at most ${MAX_CONSOLE_INPUT_BYTES} bytes`,
    );
  }
  for (const b of bytes) {
    if (typeof b !== 'number' || !Number.isInteger(b) || b < 0 || b > 255) {
      throw new ValidationError('console_input.console_bytes must hold integers from 0 to 255');
    }
  }
  return {
    type: 'console_input',
    message: { job_id: expectUuid(m.job_id, 'console_input.job_id'), console_bytes: bytes as number[] },
  };
}
