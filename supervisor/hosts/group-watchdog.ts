// Makes a host's process groups die with the supervisor, even with SIGKILL, which no handler sees:
// a small shell in its own process group reads group ids from a pipe whose other end only the
// supervisor holds. When the supervisor dies the kernel closes that end, `read` sees end of file,
// and the shell kills every group it was given. A normal teardown kills the watchdog instead.

import { spawn, type ChildProcess } from 'node:child_process';

// `kill -s KILL -- -PGID...` is the spelling dash, bash and busybox sh all take.
const SCRIPT = 'groups=; while read -r g; do groups="$groups -$g"; done; [ -n "$groups" ] && kill -s KILL -- $groups';

export class GroupWatchdog {
  private child: ChildProcess | null = null;

  /** Adds a process group to kill if the supervisor dies. */
  watch(pgid: number): void {
    this.child ??= this.spawn();
    this.child.stdin?.write(`${pgid}\n`);
  }

  /** The groups are gone (or going) by other means: the watchdog ends without killing anything. */
  release(): void {
    this.child?.kill('SIGKILL');
    this.child = null;
  }

  private spawn(): ChildProcess {
    // detached: not in the supervisor's process group, so a Ctrl-C there does not fire it.
    const child = spawn('/bin/sh', ['-c', SCRIPT], { detached: true, stdio: ['pipe', 'ignore', 'ignore'] });
    child.once('error', () => {});
    child.stdin!.on('error', () => {});
    // It must not keep the supervisor alive.
    child.unref();
    (child.stdin as unknown as { unref?: () => void }).unref?.();
    return child;
  }
}
