// systemd readiness. NOTIFY_SOCKET is a Unix datagram socket, which Node cannot send to, so we
// run `systemd-notify`. Because the message then comes from a helper process, the unit needs
// NotifyAccess=all (see examples/puppet/tml-puppet.service); MAINPID= tells systemd who we are.

import { execFile } from 'node:child_process';

/** Signals READY=1 when running under a Type=notify unit; resolves with an error line or null. */
export function notifyReady(env: NodeJS.ProcessEnv = process.env): Promise<string | null> {
  if (!env['NOTIFY_SOCKET']) return Promise.resolve(null);
  return new Promise((resolve) => {
    execFile('systemd-notify', ['--ready', `--pid=${process.pid}`], { env }, (err) => {
      if (!err) resolve(null);
      else if ((err as NodeJS.ErrnoException).code === 'ENOENT')
        resolve('NOTIFY_SOCKET is set but systemd-notify is not installed');
      else resolve(`systemd-notify failed: ${err.message.split('\n')[0]}`);
    });
  });
}
