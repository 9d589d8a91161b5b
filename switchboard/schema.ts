// The switchboard's tables as Kysely sees them. Rows of these shapes are what the store returns;
// the migrations in migrations.ts create them.

import type { Generated, Selectable } from 'kysely';
import type { ExecutionState, ExitStatus, ImageSpec, InitStage, JobRequest } from '../protocol/job.js';
import type { JobEventKind } from '../protocol/switchboard-api.js';

export interface UsersTable {
  id: string;
  name: string;
  email: string | null;
  password_hash: string | null;
  is_admin: number;
  created_at: number;
  /** When an admin locked the user out (no login, no token works), else null. */
  locked_at: number | null;
}

export interface ApiTokensTable {
  token_hash: Buffer;
  user_id: string;
  created_at: number;
  expires_at: number | null;
}

export interface SupervisorsTable {
  id: string;
  name: string;
  tags: string;
  token_hash: Buffer;
  created_at: number;
}

export interface JobsTable {
  seq: Generated<number>;
  id: string;
  owner_id: string;
  request: string;
  tag_config: string;
  state: ExecutionState;
  stage: InitStage | null;
  status_message: string | null;
  exit_status: ExitStatus | null;
  exit_message: string | null;
  supervisor_id: string | null;
  queued_at: number;
  scheduled_at: number | null;
  updated_at: number;
  terminated_at: number | null;
  log_start: Generated<number>;
  log_end: Generated<number>;
  /** From the request, so listings need not read it: the image spec (JSON), restart_of, override_timeout. */
  init_spec: string;
  restart_of: string | null;
  override_timeout: number | null;
}

export interface JobEventsTable {
  seq: Generated<number>;
  job_id: string;
  at: number;
  kind: JobEventKind;
  by: 'switchboard' | 'supervisor';
  state: ExecutionState;
  stage: InitStage | null;
  status_message: string | null;
  exit_status: ExitStatus | null;
}

export interface JobLogTable {
  job_id: string;
  offset: number;
  data: Buffer;
}

/** A web console login: the SHA-256 of its cookie's token. */
export interface WebSessionsTable {
  token_hash: Buffer;
  user_id: string;
  created_at: number;
  expires_at: number;
}

/** When the console chunk at `offset` of a job arrived (the web console's time marks). */
export interface WebConsoleTimesTable {
  job_id: string;
  offset: number;
  at: number;
}

export interface Tables {
  users: UsersTable;
  api_tokens: ApiTokensTable;
  supervisors: SupervisorsTable;
  jobs: JobsTable;
  job_events: JobEventsTable;
  web_sessions: WebSessionsTable;
  web_console_times: WebConsoleTimesTable;
  job_log: JobLogTable;
}

export type UserRow = Selectable<UsersTable>;
export type SupervisorRow = Selectable<SupervisorsTable>;
/** A job without its request, which can be large (parameters up to 1 MiB): read it on its own. */
export type JobRow = Omit<Selectable<JobsTable>, 'request'>;
export type JobEventRow = Selectable<JobEventsTable>;

/**
 * A job's request as stored (the `request` column, JSON): a `restart_job` request is resolved to
 * the earlier job's image spec, and `restart_of` names that job.
 */
export interface StoredJobRequest extends Omit<JobRequest, 'init_spec'> {
  init_spec: ImageSpec;
  restart_of?: string;
}
