// Jobs as every component sees them: execution states, exit statuses, the job request and its
// parts, with their validators. Shapes follow docs/switchboard.md; names on the wire are snake_case.

import {
  ValidationError,
  expectObject,
  expectString,
  isImageId,
  isUuid,
  oneOf,
  rejectUnknownKeys,
} from './validation.js';

export const EXECUTION_STATES = ['queued', 'scheduled', 'initializing', 'ready', 'terminating', 'terminated'] as const;
export type ExecutionState = (typeof EXECUTION_STATES)[number];

export const EXIT_STATUSES = [
  'supervisor_match_error',
  'queue_timeout',
  'internal_supervisor_error',
  'supervisor_host_start_failure',
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

/** What a supervisor starts a job from (`image_spec` of `start_job`). */
export type ImageSpec = { type: 'image'; image_id: string } | { type: 'resume_job'; job_id: string };

/** What a job request starts from: an image spec, or a new job from an earlier one's image. */
export type JobInitSpec = ImageSpec | { type: 'restart_job'; job_id: string };

/** Body of `POST /api/v1/jobs/new` as it travels: every key is required, as upstream's serde types want. */
export interface JobRequestBody {
  init_spec: JobInitSpec;
  ssh_keys: string[];
  restart_policy: RestartPolicy;
  parameters: Parameters;
  tag_config: string;
  /** A duration string ("90s", "1h 30m"; a bare number is seconds), or null for the switchboard's default. */
  override_timeout: string | null;
}

/** A validated job request: as the body, with the timeout in whole seconds. */
export interface JobRequest extends Omit<JobRequestBody, 'override_timeout'> {
  override_timeout: number | null;
}

/** A running job's state as a supervisor reports it. */
export type RunningJobState =
  { state: 'initializing'; stage: InitStage } | { state: 'ready' } | { state: 'terminating' } | { state: 'terminated' };

export type UserExitStatus = 'success' | 'error' | 'unknown';

function parseSpec<T extends JobInitSpec['type']>(value: unknown, types: readonly T[], where: string): JobInitSpec {
  const obj = expectObject(value, where);
  const type = oneOf(obj.type, types, `${where}.type`);
  if (type === 'image') {
    rejectUnknownKeys(obj, ['type', 'image_id'], where);
    if (!isImageId(obj.image_id)) throw new ValidationError(`${where}.image_id must be 64 lowercase hex digits`);
    return { type, image_id: obj.image_id };
  }
  rejectUnknownKeys(obj, ['type', 'job_id'], where);
  if (!isUuid(obj.job_id)) throw new ValidationError(`${where}.job_id must be a UUID`);
  return { type: type as 'resume_job' | 'restart_job', job_id: obj.job_id };
}

/** `image` or `resume_job`, as a supervisor receives it. */
export function parseImageSpec(value: unknown, where = 'image_spec'): ImageSpec {
  return parseSpec(value, ['image', 'resume_job'] as const, where) as ImageSpec;
}

/** `image`, `resume_job` or `restart_job`, as a user sends it. */
export function parseInitSpec(value: unknown, where = 'init_spec'): JobInitSpec {
  return parseSpec(value, ['image', 'resume_job', 'restart_job'] as const, where);
}

/** Longest override_timeout accepted, in seconds (30 days). */
export const MAX_TIMEOUT_SECONDS = 30 * 24 * 3600;
export const MAX_PARAMETERS = 256;
export const MAX_PARAMETER_NAME_LENGTH = 1024;
export const MAX_SSH_KEYS = 64;

export function parseParameters(value: unknown, where = 'parameters'): Parameters {
  const obj = expectObject(value, where);
  const names = Object.keys(obj);
  if (names.length > MAX_PARAMETERS) throw new ValidationError(`${where} has more than ${MAX_PARAMETERS} entries`);
  const out: Parameters = {};
  for (const name of names) {
    const shown = JSON.stringify(name.slice(0, 64));
    if (name.length > MAX_PARAMETER_NAME_LENGTH) {
      throw new ValidationError(`${where}: parameter name ${shown}... is longer than ${MAX_PARAMETER_NAME_LENGTH}`);
    }
    const p = expectObject(obj[name], `${where}.${name}`);
    rejectUnknownKeys(p, ['value', 'secret'], `${where}.${name}`);
    // Never echo the value: it may be a secret.
    const v = expectString(p.value, `${where}.${name}.value`);
    if (typeof p.secret !== 'boolean') throw new ValidationError(`${where}.${name}.secret must be a boolean`);
    out[name] = { value: v, secret: p.secret };
  }
  return out;
}

/**
 * The file a parameter becomes in the host (/run/tml/parameters/FILE): the puppet keeps ASCII letters,
 * digits, space, `-` and `_` of the name and cuts it to 128 characters, as upstream's does.
 */
export function parameterFileName(name: string): string {
  return name.replace(/[^A-Za-z0-9 _-]/g, '').slice(0, 128);
}

/** Refuses parameters whose names map to no file name or two to the same one (one would overwrite the other). */
export function checkParameterFileNames(parameters: Parameters, where = 'parameters'): void {
  const seen = new Map<string, string>();
  for (const name of Object.keys(parameters)) {
    const file = parameterFileName(name);
    const shown = JSON.stringify(name.slice(0, 64));
    if (file === '') {
      throw new ValidationError(
        `${where}: parameter name ${shown} maps to an empty file name (only ASCII letters, digits, space, - and _ are kept)`,
      );
    }
    const other = seen.get(file);
    if (other !== undefined) {
      throw new ValidationError(
        `${where}: parameter names ${JSON.stringify(other.slice(0, 64))} and ${shown} both map to the file name ${JSON.stringify(file)}`,
      );
    }
    seen.set(file, name);
  }
}

export function parseSshKeys(value: unknown, where = 'ssh_keys'): string[] {
  if (!Array.isArray(value)) throw new ValidationError(`${where} must be an array of strings`);
  if (value.length > MAX_SSH_KEYS) throw new ValidationError(`${where} has more than ${MAX_SSH_KEYS} entries`);
  return value.map((k, i) => {
    const key = expectString(k, `${where}[${i}]`);
    if (key.trim() === '' || /[\r\n]/.test(key)) throw new ValidationError(`${where}[${i}] must be one non-empty line`);
    return key;
  });
}

export function parseRestartPolicy(value: unknown, where = 'restart_policy'): RestartPolicy {
  const rp = expectObject(value, where);
  rejectUnknownKeys(rp, ['remaining_restart_count'], where);
  const n = rp.remaining_restart_count;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 1000) {
    throw new ValidationError(`${where}.remaining_restart_count must be an integer from 0 to 1000`);
  }
  return { remaining_restart_count: n };
}

// Upstream parses override_timeout with fundu and writes it with fundu's Display ("1h 30m", "0ns"):
// terms of a decimal number and an optional unit (seconds by default), separated by spaces.
const DURATION_UNITS: Record<string, number> = {
  ns: 1e-9,
  Ms: 1e-6,
  us: 1e-6,
  ms: 1e-3,
  s: 1,
  m: 60,
  h: 3600,
  d: 86_400,
  w: 604_800,
};
const DURATION_TERM = /^\+?((?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)(ns|Ms|us|ms|s|m|h|d|w)?$/;

/**
 * Seconds in an `override_timeout`: null, a duration string ("90s", "1h 30m", "2d"; a bare number is
 * seconds), or (an extension for scripts) a JSON number of seconds. Rounded up to whole seconds.
 */
export function parseOverrideTimeout(value: unknown, where = 'override_timeout'): number | null {
  if (value === null) return null;
  const range = `${where} must be longer than 0 and at most ${MAX_TIMEOUT_SECONDS / 86_400} days`;
  let seconds: number;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new ValidationError(range);
    seconds = value;
  } else if (typeof value === 'string') {
    const terms = value.trim().split(/\s+/);
    if (value.length > 200 || terms[0] === '') {
      throw new ValidationError(`${where} must be a duration such as "90s", "30m", "1h 30m" or "2d"`);
    }
    seconds = 0;
    for (const term of terms) {
      const m = DURATION_TERM.exec(term);
      if (!m) throw new ValidationError(`${where} must be a duration such as "90s", "30m", "1h 30m" or "2d"`);
      seconds += Number(m[1]) * DURATION_UNITS[m[2] ?? 's']!;
    }
  } else {
    throw new ValidationError(`${where} must be null or a duration string such as "90s"`);
  }
  if (!(seconds > 0) || seconds > MAX_TIMEOUT_SECONDS) throw new ValidationError(range);
  // The epsilon keeps float noise ("0.3" as 0.30000000000000004) from adding a second.
  return Math.max(1, Math.ceil(seconds - 1e-9));
}

/** The canonical duration string for a timeout in seconds, as both upstream's parser and ours read it. */
export function formatOverrideTimeout(seconds: number): string {
  return `${seconds}s`;
}

const JOB_REQUEST_KEYS = ['init_spec', 'ssh_keys', 'restart_policy', 'parameters', 'tag_config', 'override_timeout'];

/**
 * Validates a `POST /jobs/new` body. Every key is required, as upstream's `JobRequest` has them;
 * unknown keys are refused so typos surface, and parameter names must give distinct file names.
 */
export function parseJobRequest(value: unknown): JobRequest {
  const obj = expectObject(value, 'job request');
  rejectUnknownKeys(obj, JOB_REQUEST_KEYS, 'job request');
  for (const key of JOB_REQUEST_KEYS) {
    if (!(key in obj)) throw new ValidationError(`job request is missing ${key}`);
  }
  const init_spec = parseInitSpec(obj.init_spec);
  const ssh_keys = parseSshKeys(obj.ssh_keys);
  const restart_policy = parseRestartPolicy(obj.restart_policy);
  const parameters = parseParameters(obj.parameters);
  checkParameterFileNames(parameters);
  const tag_config = expectString(obj.tag_config, 'tag_config');
  if (tag_config.length > 4096) throw new ValidationError('tag_config is longer than 4096 characters');
  const override_timeout = parseOverrideTimeout(obj.override_timeout);
  return { init_spec, ssh_keys, restart_policy, parameters, tag_config, override_timeout };
}

export function parseRunningJobState(value: unknown, where = 'job_state'): RunningJobState {
  const obj = expectObject(value, where);
  const state = oneOf(obj.state, ['initializing', 'ready', 'terminating', 'terminated'] as const, `${where}.state`);
  if (state === 'initializing') return { state, stage: oneOf(obj.stage, INIT_STAGES, `${where}.stage`) };
  return { state };
}
