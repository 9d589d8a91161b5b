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
