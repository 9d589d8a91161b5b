// systemd readiness. NOTIFY_SOCKET is a Unix datagram socket, which Node cannot send to, so we
// run `systemd-notify`. Because the message then comes from a helper process, the unit needs
// NotifyAccess=all (see examples/puppet/tml-puppet.service); MAINPID= tells systemd who we are.

import { execFile } from 'node:child_process';

export type NotifyOutcome =
  /** systemd-notify ran and succeeded. */
  | { notified: true }
  /** Not under a Type=notify unit (NOTIFY_SOCKET unset or empty): nothing was run. */
  | { notified: false; problem: null }
  /** It should have been signalled and could not be: the reason, in one line. */
  | { notified: false; problem: string };

/** Signals READY=1 when running under a Type=notify unit. */
export function notifyReady(env: NodeJS.ProcessEnv = process.env): Promise<NotifyOutcome> {
  // systemd never sets it empty; an empty one names no socket to notify.
  if (!env['NOTIFY_SOCKET']) return Promise.resolve({ notified: false, problem: null });
  return new Promise((resolve) => {
    execFile('systemd-notify', ['--ready', `--pid=${process.pid}`], { env }, (err) => {
      if (!err) resolve({ notified: true });
      else if ((err as NodeJS.ErrnoException).code === 'ENOENT')
        resolve({ notified: false, problem: 'NOTIFY_SOCKET is set but systemd-notify is not installed' });
      else resolve({ notified: false, problem: `systemd-notify failed: ${err.message.split('\n')[0]}` });
    });
  });
}
