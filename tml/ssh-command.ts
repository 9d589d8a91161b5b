// The `ssh` command line of `tml job ssh`, from a job's status: pure, so it is tested without ssh.

import type { JobStatus } from '../protocol/switchboard-api.js';

export interface SshTarget {
  user: string;
  host: string;
  port: number;
  hostKeys: string[];
}

/** Where `tml job ssh` connects: the job's first SSH endpoint, as upstream's `tml` picks it. */
export function sshTarget(id: string, s: JobStatus): SshTarget {
  const endpoint = s.state.ssh_endpoints?.[0];
  if (!endpoint) {
    throw new Error(
      `job ${id} has no SSH endpoint (state ${s.state.type}; it has one once its host is up, if the supervisor reports it)`,
    );
  }
  if (!s.state.ssh_user) throw new Error(`job ${id} has no SSH user`);
  return { user: s.state.ssh_user, host: endpoint.host, port: endpoint.port, hostKeys: s.state.ssh_host_keys ?? [] };
}

/** The known_hosts lines for the host's keys, in the form ssh looks them up (`[host]:port` off port 22). */
export function knownHostsLines(target: SshTarget): string {
  const name = target.port === 22 ? target.host : `[${target.host}]:${target.port}`;
  return target.hostKeys.map((k) => `${name} ${k}\n`).join('');
}

/**
 * ssh's arguments: check the host's keys against `knownHostsFile` when the switchboard gives them,
 * else (as upstream's tml: each job is a new host key on a reused address) neither check nor keep
 * one; log in with tml's own key when there is one; then the user's words (a remote command).
 */
export function sshArgs(
  target: SshTarget,
  opts: { identityFile: string | null; knownHostsFile: string | null; extra: readonly string[] },
): string[] {
  const args =
    opts.knownHostsFile !== null
      ? ['-oStrictHostKeyChecking=yes', `-oUserKnownHostsFile=${opts.knownHostsFile}`]
      : ['-oStrictHostKeyChecking=no', '-oUserKnownHostsFile=/dev/null'];
  if (opts.identityFile !== null) args.push('-i', opts.identityFile);
  // `--` keeps a user or host beginning with "-" from being read as an option.
  args.push('-p', String(target.port), '--', `${target.user}@${target.host}`, ...opts.extra);
  return args;
}
