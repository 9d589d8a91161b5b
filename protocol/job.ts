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
  { state: 'initializing'; stage: InitStage } | { state: 'ready' } | { state: 'terminating' } | { state: 'terminated' };

export type UserExitStatus = 'success' | 'error' | 'unknown';

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
      throw new ValidationError(
        `${where}: invalid parameter name ${JSON.stringify(name.slice(0, 64))} (letters, digits, _ . : - only)`,
      );
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
      if (key.trim() === '' || /[\r\n]/.test(key))
        throw new ValidationError(`ssh_keys[${i}] must be one non-empty line`);
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
      throw new ValidationError(
        `override_timeout must be null or an integer number of seconds from 1 to ${MAX_TIMEOUT_SECONDS}`,
      );
    }
    override_timeout = t;
  }
  return { init_spec, ssh_keys, restart_policy, parameters, tag_config, override_timeout };
}

export function parseRunningJobState(value: unknown, where = 'job_state'): RunningJobState {
  const obj = expectObject(value, where);
  const state = oneOf(obj.state, ['initializing', 'ready', 'terminating', 'terminated'] as const, `${where}.state`);
  if (state === 'initializing') return { state, stage: oneOf(obj.stage, INIT_STAGES, `${where}.stage`) };
  return { state };
}
