// The switchboard's REST API under /api/v1, as upstream's 2025 ("classic") `treadmill-rs` types
// have it: every answer is one JSON object tagged by `type`, with the HTTP status of its variant.
// Our additions are extra keys and extra variants, listed as extensions in docs/switchboard.md.
// The parsers here are for clients: they take upstream's answers (without our extra keys) as well.

import {
  EXECUTION_STATES,
  EXIT_STATUSES,
  INIT_STAGES,
  parseImageSpec,
  parseRunningJobState,
  type ExecutionState,
  type ExitStatus,
  type ImageSpec,
  type InitStage,
  type RunningJobState,
} from './job.js';
import {
  ValidationError,
  expectNullableString,
  expectObject,
  expectString,
  isObject,
  isUuid,
  oneOf,
  rejectUnknownKeys,
  typeName,
} from './validation.js';

export const API_PREFIX = '/api/v1';

/**
 * Every variant of an answer that is not `ok`, with its HTTP status. `unauthorized`, `invalid`,
 * `supervisor_match_error` and `internal` are upstream's; the others are ours (upstream answers
 * those cases with an empty or plain-text body).
 */
export const ERROR_STATUS = {
  bad_request: 400,
  unauthenticated: 401,
  unauthorized: 403,
  invalid: 404,
  supervisor_match_error: 404,
  not_found: 404,
  payload_too_large: 413,
  upgrade_required: 426,
  too_many_requests: 429,
  queue_limit: 429,
  internal: 500,
  storage_full: 507,
} as const;
export type ApiErrorType = keyof typeof ERROR_STATUS;

/**
 * Why the switchboard refused a supervisor's WebSocket upgrade, with its HTTP status: the `code` of
 * the refusal's body `{"error": {"code", "message"}}`. A supervisor tells an id the switchboard does
 * not know (`unknown_supervisor`) from a wrong token (`wrong_token`) by either.
 */
export const CONNECT_REFUSAL_STATUS = {
  bad_request: 400,
  unauthenticated: 401,
  wrong_token: 403,
  unknown_supervisor: 404,
  not_found: 404,
  already_connected: 409,
  internal: 500,
} as const;
export type ConnectRefusal = keyof typeof CONNECT_REFUSAL_STATUS;

/** An error answer: upstream's unit variant plus a human `message` (an extra key clients may ignore). */
export interface ApiErrorBody {
  type: ApiErrorType;
  message: string;
}

export type Ok<T extends object = object> = { type: 'ok' } & T;

/** Body of `POST /tokens/login`: a user name or e-mail address and the password. */
export interface LoginRequest {
  user_identifier: string;
  password: string;
}

/** Answer of `POST /tokens/login` (upstream's one untagged answer). */
export interface LoginResponse {
  /** Standard padded base64 of 128 random bytes. */
  token: string;
  expires_at: string;
}

export type EnqueueResponse = Ok<{ job_id: string }>;

// -- jobs --

export type JobState =
  | { type: 'queued' | 'scheduled' | 'ready' | 'terminating' | 'terminated' }
  | { type: 'initializing'; stage: InitStage };

export interface JobSshEndpoint {
  host: string;
  port: number;
}

/** The final outcome of a job; present once it has terminated. */
export interface JobResult {
  job_id: string;
  supervisor_id: string | null;
  exit_status: ExitStatus;
  host_output: string | null;
  terminated_at: string;
}

/** Upstream's `ExtendedJobState`: the state (tag `type`) flattened with what goes with it. */
export type ExtendedJobState = JobState & {
  dispatched_to_supervisor: string | null;
  ssh_endpoints: JobSshEndpoint[] | null;
  ssh_user: string | null;
  ssh_host_keys: string[] | null;
  result: JobResult | null;
};

/** Parameters as the API shows them: secret values are never returned. */
export type MaskedParameters = Record<string, { secret: true } | { secret: false; value: string }>;

/** Extra keys of our JobStatus, in list entries and single-job answers alike. */
export interface JobSummaryExtensions {
  job_id: string;
  owner: string;
  /** Latest sub-state or status text reported for the current state. */
  status_message: string | null;
  /** The exit status as set so far (it may be set before the job has terminated). */
  exit_status: ExitStatus | null;
  /** The workload's host output or the text that came with the exit status. */
  exit_message: string | null;
  supervisor_name: string | null;
  tag_config: string;
  /** What the job runs: the image, or the job it resumes (a restart_job request resolved). */
  init_spec: ImageSpec;
  /** The job this one was restarted from (`init_spec` `restart_job`), or null. */
  restart_of: string | null;
  timeout_seconds: number | null;
  queued_at: string;
  scheduled_at: string | null;
  updated_at: string;
  terminated_at: string | null;
  /** Console bytes received so far (absolute offset of the end of the log). */
  log_bytes: number;
}

/** Extra keys of single-job answers only; lists leave them out to stay small. */
export interface JobDetailExtensions extends JobSummaryExtensions {
  parameters: MaskedParameters;
  ssh_keys: string[];
}

/** Upstream's `JobStatus`; our switchboard adds the extension keys, an upstream one does not. */
export interface JobStatus extends Partial<JobDetailExtensions> {
  state: ExtendedJobState;
  as_of: string;
}

export type JobStatusAnswer = Ok<{ job_status: JobStatus }>;
/** `GET /jobs`: a map keyed by job id (newest first in ours). */
/** `next_cursor` (an extension): the `cursor` of the next page, null on the last one. */
export type JobListAnswer = Ok<{ jobs: Record<string, JobStatus>; next_cursor?: string | null }>;
/** `DELETE /jobs/:id`; `job_status` (the job after the request) is our extension. */
export type CancelAnswer = Ok<{ job_status?: JobStatus }>;

export type JobEventKind = 'state' | 'sub_state' | 'exit_status';

/** One entry of `GET /jobs/:id/events` (an extension). */
export interface JobEventRecord {
  at: string;
  kind: JobEventKind;
  by: 'switchboard' | 'supervisor';
  state: ExecutionState;
  stage: InitStage | null;
  status_message: string | null;
  exit_status: ExitStatus | null;
}
/** Our answer numbers each event (`seq`) and says where the next page starts (`next`, null on the last). */
export type JobEventsAnswer = Ok<{ events: Array<JobEventRecord & { seq?: number }>; next?: number | null }>;

// -- supervisors --

/** Upstream's switchboard-side `SupervisorStatus` (tag `status`; the WebSocket's is another type). */
export type ApiSupervisorStatus =
  | { status: 'busy' | 'busy_disconnected'; job_id: string; job_state: RunningJobState }
  | { status: 'idle' | 'disconnected' };

export interface SupervisorExtensions {
  id: string;
  name: string;
  tags: string[];
}

export type ApiSupervisorStatusExt = ApiSupervisorStatus & Partial<SupervisorExtensions>;

export type SupervisorListAnswer = Ok<{ supervisors: Record<string, ApiSupervisorStatusExt> }>;
export type SupervisorStatusAnswer = Ok<{ status: ApiSupervisorStatusExt }>;

/** Query of `GET /supervisors`. */
export interface SupervisorFilter {
  work: 'idle' | 'busy' | null;
  conn: 'connected' | 'disconnected' | null;
}

// -- request validators (server side) --

export function parseLoginRequest(value: unknown): LoginRequest {
  const obj = expectObject(value, 'login request');
  rejectUnknownKeys(obj, ['user_identifier', 'password'], 'login request');
  return {
    user_identifier: expectString(obj.user_identifier, 'user_identifier'),
    password: expectString(obj.password, 'password'),
  };
}

export function parseSupervisorFilter(query: Record<string, unknown>): SupervisorFilter {
  const one = <T extends string>(key: string, options: readonly T[]): T | null => {
    const v = query[key];
    return v === undefined ? null : oneOf(v, options, key);
  };
  return { work: one('work', ['idle', 'busy'] as const), conn: one('conn', ['connected', 'disconnected'] as const) };
}

// -- answer validators (client side) --

const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)$/i;

function expectTime(value: unknown, where: string): string {
  const s = expectString(value, where);
  if (!RFC3339.test(s) || Number.isNaN(Date.parse(s))) throw new ValidationError(`${where} must be an RFC 3339 time`);
  return s;
}

function expectUuid(value: unknown, where: string): string {
  if (!isUuid(value)) throw new ValidationError(`${where} must be a UUID`);
  return value;
}

/** serde's `Option<T>`: a missing key is None. */
function option<T>(obj: Record<string, unknown>, key: string, parse: (v: unknown, where: string) => T): T | null {
  const v = obj[key];
  return v === undefined || v === null ? null : parse(v, key);
}

function stringArray(value: unknown, where: string): string[] {
  if (!Array.isArray(value)) throw new ValidationError(`${where} must be an array of strings`);
  return value.map((v, i) => expectString(v, `${where}[${i}]`));
}

function nonNegativeInteger(value: unknown, where: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new ValidationError(`${where} must be a non-negative integer`);
  }
  return value;
}

/** The body of an `ok` answer; any other `type` is an error of that type. */
function expectOk(value: unknown, what: string): Record<string, unknown> {
  const obj = expectObject(value, what);
  if (obj.type !== 'ok') throw new ValidationError(`${what} has type ${JSON.stringify(obj.type)}, not "ok"`);
  return obj;
}

function mapOf<T>(value: unknown, where: string, parse: (v: unknown, where: string) => T): Record<string, T> {
  const obj = expectObject(value, where);
  const out: Record<string, T> = {};
  for (const [id, v] of Object.entries(obj)) out[expectUuid(id, `${where} key`)] = parse(v, `${where}.${id}`);
  return out;
}

export function parseLoginResponse(value: unknown): LoginResponse {
  const obj = expectObject(value, 'login answer');
  return { token: expectString(obj.token, 'token'), expires_at: expectTime(obj.expires_at, 'expires_at') };
}

export function parseEnqueueResponse(value: unknown): EnqueueResponse {
  const obj = expectOk(value, 'enqueue answer');
  return { type: 'ok', job_id: expectUuid(obj.job_id, 'job_id') };
}

function parseJobResult(value: unknown, where: string): JobResult {
  const r = expectObject(value, where);
  return {
    job_id: expectUuid(r.job_id, `${where}.job_id`),
    supervisor_id: option(r, 'supervisor_id', (v) => expectUuid(v, `${where}.supervisor_id`)),
    exit_status: oneOf(r.exit_status, EXIT_STATUSES, `${where}.exit_status`),
    host_output: option(r, 'host_output', (v) => expectString(v, `${where}.host_output`)),
    terminated_at: expectTime(r.terminated_at, `${where}.terminated_at`),
  };
}

function parseExtendedJobState(value: unknown, where: string): ExtendedJobState {
  const s = expectObject(value, where);
  const type = oneOf(s.type, EXECUTION_STATES, `${where}.type`);
  const state: JobState =
    type === 'initializing' ? { type, stage: oneOf(s.stage, INIT_STAGES, `${where}.stage`) } : { type };
  return {
    ...state,
    dispatched_to_supervisor: option(s, 'dispatched_to_supervisor', (v) =>
      expectUuid(v, `${where}.dispatched_to_supervisor`),
    ),
    ssh_endpoints: option(s, 'ssh_endpoints', (v) => {
      if (!Array.isArray(v)) throw new ValidationError(`${where}.ssh_endpoints must be an array`);
      return v.map((e, i) => {
        const o = expectObject(e, `${where}.ssh_endpoints[${i}]`);
        const port = o.port;
        if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) {
          throw new ValidationError(`${where}.ssh_endpoints[${i}].port must be a port number`);
        }
        return { host: expectString(o.host, `${where}.ssh_endpoints[${i}].host`), port };
      });
    }),
    ssh_user: option(s, 'ssh_user', (v) => expectString(v, `${where}.ssh_user`)),
    ssh_host_keys: option(s, 'ssh_host_keys', (v) => stringArray(v, `${where}.ssh_host_keys`)),
    result: option(s, 'result', (v) => parseJobResult(v, `${where}.result`)),
  };
}

function parseMaskedParameters(value: unknown, where: string): MaskedParameters {
  const obj = expectObject(value, where);
  const out: MaskedParameters = {};
  for (const [name, p] of Object.entries(obj)) {
    const o = expectObject(p, `${where}.${name}`);
    out[name] =
      o.secret === true ? { secret: true } : { secret: false, value: expectString(o.value, `${where}.${name}.value`) };
  }
  return out;
}

/** Our extension keys, each checked when present; an upstream answer has none of them. */
function parseJobExtensions(s: Record<string, unknown>, where: string): Partial<JobDetailExtensions> {
  const out: Partial<JobDetailExtensions> = {};
  const str = (v: unknown, k: string) => expectString(v, `${where}.${k}`);
  const nstr = (v: unknown, k: string) => expectNullableString(v, `${where}.${k}`);
  const time = (v: unknown, k: string) => expectTime(v, `${where}.${k}`);
  const ntime = (v: unknown, k: string) => (v === null ? null : time(v, k));
  const parsers: { [K in keyof JobDetailExtensions]: (v: unknown, k: string) => JobDetailExtensions[K] } = {
    job_id: (v, k) => expectUuid(v, `${where}.${k}`),
    owner: str,
    status_message: nstr,
    exit_status: (v, k) => (v === null ? null : oneOf(v, EXIT_STATUSES, `${where}.${k}`)),
    exit_message: nstr,
    supervisor_name: nstr,
    tag_config: str,
    init_spec: (v, k) => parseImageSpec(v, `${where}.${k}`),
    restart_of: (v, k) => (v === null ? null : expectUuid(v, `${where}.${k}`)),
    timeout_seconds: (v, k) => (v === null ? null : nonNegativeInteger(v, `${where}.${k}`)),
    queued_at: time,
    scheduled_at: ntime,
    updated_at: time,
    terminated_at: ntime,
    log_bytes: (v, k) => nonNegativeInteger(v, `${where}.${k}`),
    parameters: (v, k) => parseMaskedParameters(v, `${where}.${k}`),
    ssh_keys: (v, k) => stringArray(v, `${where}.${k}`),
  };
  for (const key of Object.keys(parsers) as Array<keyof JobDetailExtensions>) {
    if (s[key] !== undefined) (out as Record<string, unknown>)[key] = parsers[key](s[key], key);
  }
  return out;
}

export function parseJobStatus(value: unknown, where = 'job_status'): JobStatus {
  const s = expectObject(value, where);
  return {
    ...parseJobExtensions(s, where),
    state: parseExtendedJobState(s.state, `${where}.state`),
    as_of: expectTime(s.as_of, `${where}.as_of`),
  };
}

export function parseJobStatusAnswer(value: unknown): JobStatusAnswer {
  const obj = expectOk(value, 'job status answer');
  return { type: 'ok', job_status: parseJobStatus(obj.job_status) };
}

export function parseJobListAnswer(value: unknown): JobListAnswer {
  const obj = expectOk(value, 'job list answer');
  return { type: 'ok', jobs: mapOf(obj.jobs, 'jobs', parseJobStatus) };
}

export function parseCancelAnswer(value: unknown): CancelAnswer {
  const obj = expectOk(value, 'cancel answer');
  return obj.job_status === undefined ? { type: 'ok' } : { type: 'ok', job_status: parseJobStatus(obj.job_status) };
}

export function parseJobEventsAnswer(value: unknown): JobEventsAnswer {
  const obj = expectOk(value, 'events answer');
  if (!Array.isArray(obj.events)) throw new ValidationError('events must be an array');
  const events = obj.events.map((e, i): JobEventRecord => {
    const where = `events[${i}]`;
    const o = expectObject(e, where);
    return {
      at: expectTime(o.at, `${where}.at`),
      kind: oneOf(o.kind, ['state', 'sub_state', 'exit_status'] as const, `${where}.kind`),
      by: oneOf(o.by, ['switchboard', 'supervisor'] as const, `${where}.by`),
      state: oneOf(o.state, EXECUTION_STATES, `${where}.state`),
      stage: o.stage === null ? null : oneOf(o.stage, INIT_STAGES, `${where}.stage`),
      status_message: expectNullableString(o.status_message, `${where}.status_message`),
      exit_status: o.exit_status === null ? null : oneOf(o.exit_status, EXIT_STATUSES, `${where}.exit_status`),
    };
  });
  return { type: 'ok', events };
}

export function parseSupervisorStatus(value: unknown, where = 'status'): ApiSupervisorStatusExt {
  const s = expectObject(value, where);
  const status = oneOf(s.status, ['busy', 'busy_disconnected', 'idle', 'disconnected'] as const, `${where}.status`);
  const ext: Partial<SupervisorExtensions> = {};
  if (s.id !== undefined) ext.id = expectUuid(s.id, `${where}.id`);
  if (s.name !== undefined) ext.name = expectString(s.name, `${where}.name`);
  if (s.tags !== undefined) ext.tags = stringArray(s.tags, `${where}.tags`);
  if (status === 'idle' || status === 'disconnected') return { status, ...ext };
  return {
    status,
    job_id: expectUuid(s.job_id, `${where}.job_id`),
    job_state: parseRunningJobState(s.job_state, `${where}.job_state`),
    ...ext,
  };
}

export function parseSupervisorListAnswer(value: unknown): SupervisorListAnswer {
  const obj = expectOk(value, 'supervisor list answer');
  return { type: 'ok', supervisors: mapOf(obj.supervisors, 'supervisors', parseSupervisorStatus) };
}

export function parseSupervisorStatusAnswer(value: unknown): SupervisorStatusAnswer {
  const obj = expectOk(value, 'supervisor status answer');
  return { type: 'ok', status: parseSupervisorStatus(obj.status) };
}

/** `type` and `message` of an error answer, when the body is one (upstream's are sometimes empty). */
export function errorBodyOf(value: unknown): { type: string | null; message: string | null } {
  if (!isObject(value)) return { type: null, message: null };
  return {
    type: typeof value.type === 'string' ? value.type : null,
    message: typeof value.message === 'string' ? value.message : null,
  };
}

export interface JobListPage {
  jobs: Record<string, JobStatus>;
  /** Where the next page starts, null on the last page; undefined from a switchboard without pages. */
  next_cursor: string | null | undefined;
}

export function parseJobListPage(value: unknown): JobListPage {
  const { jobs } = parseJobListAnswer(value);
  const raw = (value as Record<string, unknown>).next_cursor;
  if (raw !== undefined && raw !== null && typeof raw !== 'string') {
    throw new ValidationError(`next_cursor must be a string or null, got ${typeName(raw)}`);
  }
  return { jobs, next_cursor: raw as string | null | undefined };
}

/** An event with its sequence number (null from a switchboard that does not number them). */
export interface SeqEvent extends JobEventRecord {
  seq: number | null;
}

export interface EventsPage {
  events: SeqEvent[];
  /** `after` for the next page, null when this page was the last; undefined without pages. */
  next: number | null | undefined;
}

function seqOf(value: unknown, where: string): number | null {
  if (value === undefined) return null;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new ValidationError(`${where} must be a non-negative integer, got ${typeName(value)}`);
  }
  return value;
}

export function parseEventsPage(value: unknown): EventsPage {
  const { events } = parseJobEventsAnswer(value);
  const obj = expectObject(value, 'events answer');
  const raw = obj.events as unknown[];
  const next = obj.next === null ? null : obj.next === undefined ? undefined : seqOf(obj.next, 'next');
  return {
    events: events.map((e, i) => ({ ...e, seq: isObject(raw[i]) ? seqOf(raw[i].seq, `events[${i}].seq`) : null })),
    next,
  };
}
