// Our supervisor WebSocket extensions on the switchboard's side (docs/switchboard.md, "WebSocket
// extensions"): which connected supervisor takes console input, and where a running job's host is
// reached over SSH as its supervisor reports it. In memory only: a supervisor reports its job's
// endpoints again whenever it connects, and console input is meaningful only while it is connected.

import {
  WS_EXTENSIONS,
  parseExtToSwitchboard,
  type ExtToSupervisor,
  type JobSshAccess,
  type WsExtension,
} from '../protocol/switchboard-ws.js';
import { ValidationError } from '../protocol/validation.js';
import type { Logger } from '../protocol/log.js';

/** What this module needs to know of a job (the job store's row has more). */
export interface JobView {
  id: string;
  owner_id: string;
  state: string;
  supervisor_id: string | null;
}

/** A connected supervisor's side of the extensions: what it named, and how to send it a message. */
export interface ExtensionLink {
  extensions: ReadonlySet<WsExtension>;
  send(msg: ExtToSupervisor): void;
}

/** upstream's ExtendedJobState SSH keys; absent when nothing is known (the answer then keeps its nulls). */
export type SshFields =
  | { ssh_endpoints: Array<{ host: string; port: number }>; ssh_user: string | null; ssh_host_keys: string[] | null }
  | Record<string, never>;

export type ConsoleInputOutcome =
  { ok: true } | { ok: false; reason: 'not_running' | 'supervisor_away' | 'unsupported'; message: string };

/** States in which a job has a host whose console takes input. */
const INPUT_STATES: ReadonlySet<string> = new Set(['scheduled', 'initializing', 'ready']);

export class InteractiveJobs {
  /** The extensions this switchboard names in its 101 answer. */
  readonly offered: readonly WsExtension[] = WS_EXTENSIONS;
  private readonly links = new Map<string, ExtensionLink>();
  /** supervisor id -> the SSH access of the job it runs (one job per supervisor at a time) */
  private readonly access = new Map<string, JobSshAccess>();

  constructor(
    private readonly jobs: { get(id: string): Promise<JobView | undefined> },
    private readonly log: Logger,
    /** The other replicas of the database, when there are any: console input for a supervisor one of them holds goes there. */
    private readonly replicas: {
      heldElsewhere(supervisorId: string): boolean;
      forward(jobId: string, bytes: Buffer): Promise<void>;
    } | null = null,
  ) {}

  connected(supervisorId: string, link: ExtensionLink): void {
    this.links.set(supervisorId, link);
  }

  disconnected(supervisorId: string, link: ExtensionLink): void {
    if (this.links.get(supervisorId) === link) this.links.delete(supervisorId);
  }

  /**
   * Handles a supervisor's message if it is one of our extensions: false when it is not (the hub
   * hands those to upstream's parser), else when it has been handled. A malformed one is refused
   * and logged.
   */
  message(supervisorId: string, supervisorName: string, text: string): false | Promise<void> {
    let msg;
    try {
      msg = parseExtToSwitchboard(text);
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      this.log.warn(`supervisor ${supervisorName}: refused a malformed extension message: ${err.message}`);
      return Promise.resolve();
    }
    if (msg === null) return false;
    return this.record(supervisorId, supervisorName, msg.message).catch((err: unknown) =>
      this.log.error(`supervisor ${supervisorName}: ssh_endpoints not recorded: ${(err as Error).message}`),
    );
  }

  private async record(supervisorId: string, supervisorName: string, access: JobSshAccess): Promise<void> {
    const job = await this.jobs.get(access.job_id);
    if (!job || job.supervisor_id !== supervisorId || job.state === 'terminated') {
      this.log.debug(`supervisor ${supervisorName}: ignored ssh_endpoints for job ${access.job_id}, not running on it`);
      return;
    }
    if (access.ssh_endpoints.length === 0) this.access.delete(supervisorId);
    else this.access.set(supervisorId, access);
    this.log.debug(`job ${access.job_id}: ${access.ssh_endpoints.length} SSH endpoint(s) from ${supervisorName}`);
  }

  /** A job's SSH endpoints while it runs, as its supervisor last reported them. */
  ssh(job: JobView): SshFields {
    if (job.state === 'terminated' || job.supervisor_id === null) return {};
    const access = this.access.get(job.supervisor_id);
    if (access?.job_id !== job.id) return {};
    return { ssh_endpoints: access.ssh_endpoints, ssh_user: access.ssh_user, ssh_host_keys: access.ssh_host_keys };
  }

  /** Sends bytes (at most MAX_CONSOLE_INPUT_BYTES) to the console input of a job's host. */
  consoleInput(job: JobView, bytes: Buffer): ConsoleInputOutcome {
    if (!INPUT_STATES.has(job.state) || job.supervisor_id === null) {
      return { ok: false, reason: 'not_running', message: `job ${job.id} is ${job.state}: its host takes no input` };
    }
    const link = this.links.get(job.supervisor_id);
    if (link === undefined && this.replicas?.heldElsewhere(job.supervisor_id)) {
      this.replicas
        .forward(job.id, bytes)
        .catch((err: unknown) =>
          this.log.warn(`job ${job.id}: console input not forwarded: ${(err as Error).message}`),
        );
      return { ok: true };
    }
    if (link === undefined) {
      return {
        ok: false,
        reason: 'supervisor_away',
        message: `the supervisor of job ${job.id} is not connected; try again when it is`,
      };
    }
    if (!link.extensions.has('console_input')) {
      return {
        ok: false,
        reason: 'unsupported',
        message: `the supervisor of job ${job.id} takes no console input (it does not offer the console_input extension)`,
      };
    }
    link.send({ type: 'console_input', message: { job_id: job.id, console_bytes: [...bytes] } });
    return { ok: true };
  }

  /** Console input another replica forwarded: sent where this replica holds the job's supervisor, else dropped. */
  async forwarded(jobId: string, bytes: Buffer): Promise<void> {
    const job = await this.jobs.get(jobId);
    if (job?.supervisor_id && this.links.has(job.supervisor_id)) this.consoleInput(job, bytes);
  }
}
