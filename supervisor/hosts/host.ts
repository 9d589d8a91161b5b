// What a host backend (a local process, a QEMU VM; a netbooted board later) offers the job runner.
// The runner owns the job's lifecycle; a host only brings a machine up, relays what happens on it and
// tears it down. Nothing here is specific to one kind of machine.

import type { Manifest } from '../../imagetool/index.js';
import type { Parameters } from '../../protocol/job.js';
import type { PuppetEvent } from '../../protocol/control-socket/messages.js';
import type { JobErrorKind } from '../../protocol/switchboard-ws.js';

/**
 * Why a host could not come up, as the switchboard is told: an image this host cannot boot
 * (ImageNotCompatible) or one that is inconsistent (ImageInvalid) fail the host's start
 * (SupervisorHostStartError); anything else is the supervisor's own failure (InternalError).
 */
export type HostStartErrorKind = Extract<JobErrorKind, 'ImageNotCompatible' | 'ImageInvalid' | 'InternalError'>;

/** Thrown inside a host backend to carry the kind of a start failure to onStartError. */
export class HostStartError extends Error {
  constructor(
    readonly kind: HostStartErrorKind,
    message: string,
  ) {
    super(message);
  }
}

export interface HostSpec {
  jobId: string;
  imageId: string;
  manifest: Manifest;
  /** The image store the manifest was read from; blobs are found there. */
  storeDir: string;
  /** A fresh, empty directory the host may use for this job only; the runner removes it afterwards. */
  jobDir: string;
  sshKeys: string[];
  parameters: Parameters;
}

export type HostExit =
  | { kind: 'boot-script'; code: number | null; signal: NodeJS.Signals | null }
  | { kind: 'puppet'; code: number | null; signal: NodeJS.Signals | null }
  /** The machine itself ended (a VM powered off, its emulator died); the reason is one line. */
  | { kind: 'machine'; reason: string };

/** Where a user reaches the host over SSH (upstream's `ssh_endpoints` entries). */
export interface SshEndpoint {
  host: string;
  port: number;
}

/** What the host knows about itself once it is ready. */
export interface ReadyInfo {
  sshEndpoints: SshEndpoint[];
  /** Who logs in at those endpoints (upstream's `ssh_user`); null when the host does not say. */
  sshUser?: string | null;
}

/** Called by the host as it comes up and runs; called at most until stop() has resolved. */
export interface HostCallbacks {
  /** Bring-up progress, in order: provisioning, then booting. */
  onStage(stage: 'provisioning' | 'booting', message: string | null): void;
  /** The puppet said `ready`; the workload is starting. Called once per boot (see onRebooting). */
  onReady(info?: ReadyInfo): void;
  /**
   * The machine restarts (a guest reboot) and is no longer ready; onReady follows once its puppet
   * says `ready` again. Hosts that cannot reboot never call it.
   */
  onRebooting(message: string): void;
  /** Puppet events other than `ready`: substates, exit statuses, terminate requests, ... */
  onPuppetEvent(event: PuppetEvent): void;
  /**
   * Console bytes (the workload's stdout and stderr), in order. A returned promise asks the host to
   * stop reading the console until it settles (the switchboard link is backed up).
   */
  onConsole(chunk: Buffer): Promise<void> | void;
  /**
   * The host could not be brought up; the message says why, in one line (kind: InternalError when
   * not given). Terminal: no onExit follows.
   */
  onStartError(message: string, kind?: HostStartErrorKind): void;
  /** The host ended on its own after becoming ready. */
  onExit(exit: HostExit): void;
}

export type StopMode =
  /** Ask the machine to shut down (puppet, firmware), give it a bounded time, then force it off. */
  | 'graceful'
  /** Force it off now: bring-up failed, or there is nothing worth shutting down cleanly. */
  | 'immediate';

export interface Host {
  /**
   * Tears the host down at any point of its life (also during bring-up); resolves once nothing of it
   * runs and its per-job files are gone. A second call returns the first call's promise.
   */
  stop(mode?: StopMode): Promise<void>;
  /** Bytes for the host's console input (a serial port, a process's stdin); hosts without one lack it. */
  consoleInput?(data: Buffer): 'written' | 'no_input' | 'dropped';
}

export interface HostBackend {
  readonly name: string;
  /** Starts bringing a host up; progress and failures arrive through the callbacks. */
  start(spec: HostSpec, callbacks: HostCallbacks): Host;
}
