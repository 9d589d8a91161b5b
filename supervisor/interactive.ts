// Our WebSocket extensions on the supervisor's side (docs/switchboard.md, "WebSocket extensions"):
// the running job's SSH endpoints are state, not an event, so they are sent when the host becomes
// ready and again on every (re)connection, and only to a switchboard that named `ssh_endpoints`.

import type { ExtToSwitchboard, JobSshAccess, WsExtension } from '../protocol/switchboard-ws.js';
import type { ReadyInfo } from './hosts/host.js';

/** What this supervisor offers the switchboard in its upgrade request. */
export const SUPERVISOR_EXTENSIONS: readonly WsExtension[] = ['ssh_endpoints', 'console_input'];

export class SshAccessReporter {
  private current: JobSshAccess | null = null;

  /** `send` delivers an extension message if the switchboard takes it now (see sendExtension). */
  constructor(private readonly send: (msg: ExtToSwitchboard) => boolean) {}

  /** The job's host is ready (info) or the job has ended (null). */
  update(jobId: string, info: ReadyInfo | null): void {
    if (info === null) {
      if (this.current?.job_id !== jobId) return;
      this.current = null;
      this.send({
        type: 'ssh_endpoints',
        message: { job_id: jobId, ssh_endpoints: [], ssh_user: null, ssh_host_keys: null },
      });
      return;
    }
    if (info.sshEndpoints.length === 0) return;
    this.current = {
      job_id: jobId,
      ssh_endpoints: info.sshEndpoints.map(({ host, port }) => ({ host, port })),
      ssh_user: info.sshUser ?? null,
      ssh_host_keys: null,
    };
    this.resend();
  }

  /** After a (re)connection: a switchboard that restarted knows the endpoints again. */
  resend(): void {
    if (this.current !== null) this.send({ type: 'ssh_endpoints', message: this.current });
  }
}
