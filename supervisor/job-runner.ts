// Runs one job at a time on a host backend and turns what happens into the switchboard's job events.
// All I/O comes in through JobRunnerDeps, so the lifecycle mapping is tested with fakes.

import { EventEmitter } from 'node:events';
import type { Manifest } from '../imagetool/index.js';
import type { RunningJobState, UserExitStatus } from '../protocol/job.js';
import type { JobErrorKind, JobEvent, StartJobMessage, SupervisorStatus } from '../protocol/switchboard-ws.js';
import type { PuppetEvent } from '../protocol/control-socket/messages.js';
import { ConsoleBatcher } from './console-batcher.js';
import type { Host, HostBackend, HostExit, ReadyInfo, StopMode } from './hosts/host.js';
import { ImageUnavailableError } from './image-loader.js';
import { capJobEvent } from './job-event-caps.js';
import { MAX_STATUS_MESSAGE_BYTES, capText } from '../protocol/text-caps.js';
import type { Logger } from '../protocol/log.js';

export interface JobRunnerDeps {
  send(jobId: string, event: JobEvent): void;
  /**
   * Reads and verifies an image (fetching it first where the supervisor can); rejects with a one-line,
   * user-facing message when it is unusable (an ImageUnavailableError says whether it is missing or
   * damaged). `onStatus` reports a fetch's progress.
   */
  loadImage(imageId: string, onStatus?: (message: string) => void): Promise<Manifest>;
  allocateJobDir(jobId: string): Promise<string>;
  releaseJobDir(dir: string): Promise<void>;
  host: HostBackend;
  storeDir: string;
  log: Logger;
  console?: { maxBytes?: number; delayMs?: number };
  /** True while the link to the switchboard is backed up; the host's console is paused meanwhile. */
  congested?(): boolean;
  /** Where the job's host is reached over SSH once it is ready; null once the job has ended. */
  onSshAccess?(jobId: string, info: ReadyInfo | null): void;
}

type EndKind = 'host' | 'stopped' | 'shutdown';

interface ActiveJob {
  id: string;
  state: RunningJobState;
  host: Host | null;
  jobDir: string | null;
  declared: boolean;
  ending: Promise<void> | null;
  /** Why it is ending: a host's last events are still taken while it is torn down. */
  endKind: EndKind | 'failed' | null;
  console: ConsoleBatcher;
}

const USER_EXIT_STATUSES: readonly string[] = ['success', 'error', 'unknown'] satisfies UserExitStatus[];

function describeExit(exit: HostExit): string {
  if (exit.kind === 'machine') return exit.reason;
  const who = exit.kind === 'boot-script' ? 'the boot script' : 'the puppet';
  if (exit.signal !== null) return `${who} was killed by ${exit.signal}`;
  return `${who} exited with code ${exit.code}`;
}

/** The `ready` transition's status message: where to reach the host, when the host says. */
function readyMessage(info: ReadyInfo | undefined): string | null {
  if (info === undefined || info.sshEndpoints.length === 0) return null;
  return `ssh endpoints: ${info.sshEndpoints.map((e) => (e.host.includes(':') ? `[${e.host}]:${e.port}` : `${e.host}:${e.port}`)).join(', ')}`;
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Emits 'idle' whenever a job has ended (after its `terminated` was sent). */
export class JobRunner extends EventEmitter {
  private current: ActiveJob | null = null;

  constructor(private readonly deps: JobRunnerDeps) {
    super();
  }

  status(): SupervisorStatus {
    const job = this.current;
    if (job === null) return { type: 'idle' };
    return { type: 'ongoing_job', job_id: job.id, job_state: job.state };
  }

  start(msg: StartJobMessage): void {
    const busy = this.current;
    if (busy !== null) {
      // Upstream's answers: the same job again is AlreadyRunning (the job itself goes on), another
      // one is beyond this supervisor's one job at a time.
      if (busy.id === msg.job_id) {
        this.deps.log.info(`job ${msg.job_id}: start_job repeated for the running job; ignored`);
        this.deps.send(msg.job_id, {
          type: 'error',
          error: {
            error_kind: 'AlreadyRunning',
            description: `job ${msg.job_id} is already running on this supervisor`,
          },
        });
        return;
      }
      this.deps.log.warn(`job ${msg.job_id}: refused, still running job ${busy.id}`);
      this.rejectStart(
        msg.job_id,
        `this supervisor runs one job at a time and is busy with job ${busy.id}`,
        'MaxConcurrentJobs',
      );
      return;
    }
    const job: ActiveJob = {
      id: msg.job_id,
      state: { state: 'initializing', stage: 'starting' },
      host: null,
      jobDir: null,
      declared: false,
      ending: null,
      endKind: null,
      console: new ConsoleBatcher(
        (bytes) => this.send(job, { type: 'console_log', console_bytes: [...bytes] }),
        this.deps.console,
      ),
    };
    this.current = job;
    this.run(job, msg).catch((err: unknown) => {
      this.deps.log.error(`job ${job.id}: internal error: ${errorMessage(err)}`);
      this.fail(job, 'InternalError', `internal supervisor error: ${errorMessage(err)}`);
    });
  }

  /** Fails a job this supervisor will not run (busy, or its start_job was unusable). */
  rejectStart(jobId: string, message: string, kind: JobErrorKind = 'InternalError'): void {
    this.deps.send(jobId, capJobEvent({ type: 'error', error: { error_kind: kind, description: message } }));
    this.deps.send(
      jobId,
      capJobEvent({ type: 'state_transition', new_state: { state: 'terminated' }, status_message: message }),
    );
  }

  /** Console input for the running job's host (interactive.ts); anything else is logged and dropped. */
  consoleInput(jobId: string, data: Buffer): void {
    const host = this.current?.id === jobId ? this.current.host : null;
    const result = host?.consoleInput?.(data) ?? 'no_input';
    if (result !== 'written') this.deps.log.debug(`job ${jobId}: ${data.length} bytes of console input: ${result}`);
  }

  stop(jobId: string): void {
    const job = this.current;
    if (job === null || job.id !== jobId) {
      this.deps.log.warn(`job ${jobId}: stop_job for a job this supervisor is not running`);
      this.deps.send(jobId, {
        type: 'error',
        error: { error_kind: 'JobNotFound', description: `job ${jobId} is not running on this supervisor` },
      });
      return;
    }
    if (job.ending !== null) {
      this.deps.send(jobId, {
        type: 'error',
        error: { error_kind: 'AlreadyStopping', description: `job ${jobId} is already stopping` },
      });
      return;
    }
    this.deps.log.info(`job ${jobId}: stop requested by the switchboard`);
    this.end(job, 'stopped', 'stop requested by the switchboard');
  }

  /** Ends the running job (if any) because the supervisor is going away; resolves once it is torn down. */
  async shutdown(): Promise<void> {
    const job = this.current;
    if (job === null) return;
    this.end(job, 'shutdown', 'the supervisor is shutting down');
    await job.ending;
  }

  private async run(job: ActiveJob, msg: StartJobMessage): Promise<void> {
    this.deps.log.info(`job ${job.id}: starting`);
    this.transition(job, { state: 'initializing', stage: 'starting' }, null);
    if (msg.image_spec.type !== 'image') {
      this.fail(job, 'CannotResume', `the ${this.deps.host.name} host cannot resume jobs (image_spec resume_job)`);
      return;
    }
    const imageId = msg.image_spec.image_id;

    this.transition(job, { state: 'initializing', stage: 'fetching_image' }, `image ${imageId}`);
    let manifest: Manifest;
    try {
      manifest = await this.deps.loadImage(imageId, (message) => {
        if (this.live(job)) this.transition(job, { state: 'initializing', stage: 'fetching_image' }, message);
      });
    } catch (err) {
      this.fail(job, err instanceof ImageUnavailableError ? err.kind : 'InternalError', errorMessage(err));
      return;
    }
    if (job.ending !== null) return;

    this.transition(job, { state: 'initializing', stage: 'allocating' }, null);
    let jobDir: string;
    try {
      jobDir = await this.deps.allocateJobDir(job.id);
    } catch (err) {
      this.fail(job, 'InternalError', `cannot allocate a job directory: ${errorMessage(err)}`);
      return;
    }
    if (job.ending !== null) {
      await this.deps.releaseJobDir(jobDir);
      return;
    }
    job.jobDir = jobDir;

    job.host = this.deps.host.start(
      {
        jobId: job.id,
        imageId,
        manifest,
        storeDir: this.deps.storeDir,
        jobDir,
        sshKeys: msg.ssh_keys,
        parameters: msg.parameters,
      },
      {
        onStage: (stage, message) => {
          if (this.live(job) && job.state.state === 'initializing')
            this.transition(job, { state: 'initializing', stage }, message);
        },
        onReady: (info) => {
          if (!this.live(job)) return;
          this.transition(job, { state: 'ready' }, readyMessage(info));
          if (info !== undefined) this.deps.onSshAccess?.(job.id, info);
        },
        onRebooting: (message) => {
          if (!this.live(job) || job.state.state !== 'ready') return;
          this.deps.log.info(`job ${job.id}: ${message}`);
          this.transition(job, { state: 'initializing', stage: 'booting' }, message);
        },
        onPuppetEvent: (event) => this.onPuppetEvent(job, event),
        onConsole: (chunk) => {
          if (this.current !== job) return;
          job.console.push(chunk);
          if (this.deps.congested?.() === true) return this.uncongested(job);
        },
        onStartError: (message, kind) => this.fail(job, kind ?? 'InternalError', message),
        onExit: (exit) => this.end(job, 'host', describeExit(exit)),
      },
    );
  }

  private onPuppetEvent(job: ActiveJob, event: PuppetEvent): void {
    if (this.current !== job) return;
    // While a host is torn down it hands over what its puppet sent before: a declared result still
    // counts if the job ended on its own (or the supervisor is going away), nothing else does.
    if (job.endKind !== null) {
      const late = event.type === 'declareworkloadexitstatus' && (job.endKind === 'host' || job.endKind === 'shutdown');
      if (!late) return;
    }
    switch (event.type) {
      case 'reportsubstate':
        this.deps.log.info(
          `job ${job.id}: substate ${JSON.stringify(capText(event.substate, MAX_STATUS_MESSAGE_BYTES))}`,
        );
        this.transition(job, job.state, event.substate);
        return;
      case 'declareworkloadexitstatus': {
        if (!USER_EXIT_STATUSES.includes(event.workload_exit_status)) return;
        this.deps.log.info(`job ${job.id}: workload declared ${event.workload_exit_status}`);
        job.declared = true;
        this.send(job, {
          type: 'declare_exit_status',
          user_exit_status: event.workload_exit_status,
          host_output: event.workload_output,
        });
        return;
      }
      case 'terminatejob':
        this.end(job, 'host', 'the workload asked to terminate the job');
        return;
      case 'shutdown':
        this.end(job, 'host', 'the host is shutting down');
        return;
      case 'reboot':
        // A host that can reboot reports it through onRebooting; the others carry on as before.
        this.deps.log.info(`job ${job.id}: the host announced a reboot`);
        return;
      default:
        this.deps.log.debug(`job ${job.id}: puppet event ${event.type}`);
    }
  }

  /** Resolves once the switchboard link has caught up, or the job is gone. */
  private async uncongested(job: ActiveJob): Promise<void> {
    while (this.current === job && this.deps.congested?.() === true) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  private live(job: ActiveJob): boolean {
    return this.current === job && job.ending === null;
  }

  private send(job: ActiveJob, event: JobEvent): void {
    this.deps.send(job.id, capJobEvent(event));
  }

  private transition(job: ActiveJob, state: RunningJobState, message: string | null): void {
    job.console.flush();
    job.state = state;
    this.send(job, { type: 'state_transition', new_state: state, status_message: message });
  }

  /**
   * The job cannot go on: report the error, tear down whatever exists, end `terminated`. Upstream
   * supervisors stop at the error; the switchboard ends a starting job on it, and learns from our
   * status that the teardown is still under way.
   */
  private fail(job: ActiveJob, kind: JobErrorKind, message: string): void {
    if (this.current !== job || job.ending !== null) return;
    this.deps.log.warn(`job ${job.id}: ${kind}: ${message}`);
    job.console.flush();
    this.send(job, { type: 'error', error: { error_kind: kind, description: message } });
    job.endKind = 'failed';
    job.ending = this.teardown(job, message, 'immediate');
  }

  private end(job: ActiveJob, kind: EndKind, reason: string): void {
    if (this.current !== job || job.ending !== null) return;
    this.deps.log.info(`job ${job.id}: terminating: ${reason}`);
    this.transition(job, { state: 'terminating' }, reason);
    job.endKind = kind;
    job.ending = (async () => {
      await this.teardownHost(job, 'graceful');
      job.console.flush();
      // A canceled or timed-out job already has its final exit status; only a host that ended on its
      // own (or a supervisor going away) still needs one.
      if (kind === 'host' && !job.declared) {
        this.send(job, {
          type: 'declare_exit_status',
          user_exit_status: 'unknown',
          host_output: `the workload reported no exit status (${reason})`,
        });
      } else if (kind === 'shutdown' && !job.declared) {
        this.send(job, { type: 'error', error: { error_kind: 'InternalError', description: reason } });
      }
      await this.finish(job, null);
    })();
  }

  private async teardown(job: ActiveJob, message: string, mode: StopMode): Promise<void> {
    await this.teardownHost(job, mode);
    await this.finish(job, message);
  }

  private async teardownHost(job: ActiveJob, mode: StopMode): Promise<void> {
    if (job.host === null) return;
    try {
      await job.host.stop(mode);
    } catch (err) {
      this.deps.log.error(`job ${job.id}: stopping the host failed: ${errorMessage(err)}`);
    }
  }

  private async finish(job: ActiveJob, message: string | null): Promise<void> {
    if (job.jobDir !== null) {
      try {
        await this.deps.releaseJobDir(job.jobDir);
      } catch (err) {
        this.deps.log.warn(`job ${job.id}: removing ${job.jobDir} failed: ${errorMessage(err)}`);
      }
    }
    this.transition(job, { state: 'terminated' }, message);
    this.deps.onSshAccess?.(job.id, null);
    this.deps.log.info(`job ${job.id}: terminated`);
    this.current = null;
    this.emit('idle');
  }
}
