// The switchboard's REST API under /api/v1: request and answer bodies, and their validators.
// Extensions beyond upstream's API are documented in docs/switchboard.md.

import type { ExecutionState, ExitStatus, ImageSpec, InitStage } from './job.js';
import { expectObject, expectString, rejectUnknownKeys } from './validation.js';

export const API_PREFIX = '/api/v1';

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

export function parseLoginRequest(value: unknown): LoginRequest {
  const obj = expectObject(value, 'login request');
  rejectUnknownKeys(obj, ['user', 'password'], 'login request');
  return { user: expectString(obj.user, 'user'), password: expectString(obj.password, 'password') };
}
