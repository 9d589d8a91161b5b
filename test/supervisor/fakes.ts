// Test doubles for the job runner: a host backend driven by the test, and a recorder of job events.

import type { Manifest } from '../../imagetool/index.js';
import { silentLogger } from '../../protocol/log.js';
import type { Host, HostBackend, HostCallbacks, HostSpec, StopMode } from '../../supervisor/hosts/host.js';
import type { JobRunnerDeps } from '../../supervisor/job-runner.js';
import { startJobMessage, type JobEvent, type StartJobMessage } from '../../protocol/switchboard-ws.js';

export const JOB_ID = '6f1c2a4e-0d0b-4c57-9a53-2f1d4c5e6a7b';
export const OTHER_JOB_ID = '0b9e3f44-7c1d-4b7e-8f0a-1c2d3e4f5a6b';
export const IMAGE_ID = 'a'.repeat(64);

export function startMessage(overrides: Partial<StartJobMessage> = {}): StartJobMessage {
  return {
    ...startJobMessage(JOB_ID, {
      init_spec: { type: 'image', image_id: IMAGE_ID },
      ssh_keys: [],
      restart_policy: { remaining_restart_count: 0 },
      parameters: { greeting: { value: 'hello', secret: false } },
    }),
    ...overrides,
  };
}

export const MANIFEST: Manifest = {
  label: 'test',
  revision: 1,
  description: '',
  attrs: {},
  blobs: {},
};

export class FakeHost implements Host {
  stopped = false;
  stopMode: StopMode | undefined;
  constructor(
    readonly spec: HostSpec,
    readonly cb: HostCallbacks,
  ) {}
  async stop(mode?: StopMode): Promise<void> {
    this.stopped = true;
    this.stopMode = mode;
  }
}

export class FakeBackend implements HostBackend {
  readonly name = 'fake';
  hosts: FakeHost[] = [];
  start(spec: HostSpec, cb: HostCallbacks): Host {
    const host = new FakeHost(spec, cb);
    this.hosts.push(host);
    return host;
  }
}

export interface Sent {
  jobId: string;
  event: JobEvent;
}

/** Job events as the runner sends them, with a way to wait for one. */
export class Recorder {
  sent: Sent[] = [];
  private waiters: Array<{ pred: (s: Sent) => boolean; resolve: () => void }> = [];

  push = (jobId: string, event: JobEvent): void => {
    const s = { jobId, event };
    this.sent.push(s);
    this.waiters = this.waiters.filter((w) => {
      if (!w.pred(s)) return true;
      w.resolve();
      return false;
    });
  };

  /** Resolves once an event matching pred was sent (now or before). */
  until(pred: (s: Sent) => boolean): Promise<void> {
    if (this.sent.some(pred)) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ pred, resolve }));
  }

  untilState(state: string, jobId = JOB_ID): Promise<void> {
    return this.until(
      (s) => s.jobId === jobId && s.event.type === 'state_transition' && s.event.new_state.state === state,
    );
  }

  /** A compact trace: "initializing/starting", "ready", "ready: substate", "declare success", "error ImageNotFound", "console". */
  trace(jobId = JOB_ID): string[] {
    return this.sent
      .filter((s) => s.jobId === jobId)
      .map(({ event: e }) => {
        switch (e.type) {
          case 'state_transition': {
            const st = e.new_state.state === 'initializing' ? `initializing/${e.new_state.stage}` : e.new_state.state;
            return e.status_message === null ? st : `${st}: ${e.status_message}`;
          }
          case 'declare_exit_status':
            return `declare ${e.user_exit_status}`;
          case 'error':
            return `error ${e.error.error_kind}`;
          case 'console_log':
            return `console ${Buffer.from(e.console_bytes).toString()}`;
        }
      });
  }
}

export function fakeDeps(overrides: Partial<JobRunnerDeps> = {}): {
  deps: JobRunnerDeps;
  recorder: Recorder;
  backend: FakeBackend;
  released: string[];
} {
  const recorder = new Recorder();
  const backend = new FakeBackend();
  const released: string[] = [];
  const deps: JobRunnerDeps = {
    send: recorder.push,
    loadImage: async () => MANIFEST,
    allocateJobDir: async (jobId) => `/fake/work/job-${jobId}`,
    releaseJobDir: async (dir) => {
      released.push(dir);
    },
    host: backend,
    storeDir: '/fake/store',
    log: silentLogger,
    ...overrides,
  };
  return { deps, recorder, backend, released };
}

/** Waits until the backend has started a host. */
export async function hostStarted(backend: FakeBackend): Promise<FakeHost> {
  while (backend.hosts.length === 0) await new Promise((r) => setImmediate(r));
  return backend.hosts[backend.hosts.length - 1]!;
}
