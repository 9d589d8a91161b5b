// The `local` host: the job's "machine" is a pair of process groups on this computer, the puppet daemon
// and the image's boot script. It isolates nothing; it exists to develop and test images and boot
// scripts without hardware, through exactly the client commands a real host offers.

import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { randomUUID } from 'node:crypto';
import { chmod, copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { blobPath } from '../../imagetool/index.js';
import { LOCAL_ENTRYPOINT_ATTR } from '../../protocol/image-manifest.js';
import { ControlSocketServer } from '../control-socket/server.js';
import { type PuppetEvent } from '../../protocol/control-socket/messages.js';
import { PARAMETERS_DIR_ENV, PUPPET_SOCKET_ENV } from '../../protocol/paths.js';
import { recordProcessGroup } from '../leftovers.js';
import { ConsoleInput, crToLf } from '../console-input.js';
import { demoted, type Logger } from '../../protocol/log.js';
import {
  HostStartError,
  type Host,
  type HostBackend,
  type HostCallbacks,
  type HostSpec,
  type HostStartErrorKind,
} from './host.js';
import { GroupWatchdog } from './group-watchdog.js';
import { wrapperScript, type PuppetCommand } from './puppet-command.js';

export { LOCAL_ENTRYPOINT_ATTR };

/** The only parts of the supervisor's environment a job sees: its tokens and settings stay out. */
const INHERITED_ENV = ['PATH', 'HOME', 'USER', 'LOGNAME', 'SHELL', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR', 'TERM'];

export interface LocalHostOptions {
  puppet: PuppetCommand;
  log: Logger;
  /** How long the puppet may take from spawn to `ready`. */
  readyTimeoutMs?: number;
  /** How long processes get after SIGTERM before SIGKILL. */
  stopGraceMs?: number;
  /** How long a teardown waits for what the puppet already sent to be read (default 10 s). */
  drainMs?: number;
  puppetLogLevel?: string;
}

export class LocalHostBackend implements HostBackend {
  readonly name = 'local';

  constructor(private readonly opts: LocalHostOptions) {}

  start(spec: HostSpec, callbacks: HostCallbacks): Host {
    const host = new LocalHost(spec, callbacks, this.opts);
    void host.boot();
    return host;
  }
}

/** A spawned process group and a promise that settles once the leader exited and its pipes closed. */
interface Group {
  child: ChildProcess;
  closed: Promise<void>;
}

function spawnGroup(
  command: string,
  args: string[],
  options: { cwd: string; env: NodeJS.ProcessEnv; stdin?: 'pipe' },
): Group {
  // detached: the child leads a new process group, so the whole group can be signalled at once.
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env,
    detached: true,
    stdio: [options.stdin ?? 'ignore', 'pipe', 'pipe'],
  });
  const closed = new Promise<void>((resolve) => {
    child.once('close', () => resolve());
    child.once('error', () => resolve());
  });
  return { child, closed };
}

function signalGroup(group: Group | null, signal: NodeJS.Signals): void {
  if (group?.child.pid === undefined) return;
  try {
    process.kill(-group.child.pid, signal);
  } catch {
    // ESRCH: the whole group is gone already.
  }
}

function delay(ms: number): Promise<'timeout'> {
  return new Promise((resolve) => setTimeout(() => resolve('timeout'), ms).unref());
}

/** Keeps the last lines a process printed, to explain why it failed. */
class TailLines {
  private lines: string[] = [];
  private partial = '';
  constructor(
    private readonly onLine: (line: string) => void,
    private readonly keep = 10,
  ) {}
  push(chunk: Buffer): void {
    const parts = (this.partial + chunk.toString('utf8')).split('\n');
    this.partial = parts.pop() ?? '';
    for (const line of parts) this.add(line);
  }
  private add(line: string): void {
    if (line.trim() === '') return;
    this.onLine(line);
    this.lines.push(line);
    if (this.lines.length > this.keep) this.lines.shift();
  }
  summary(): string {
    if (this.partial !== '') this.add(this.partial);
    this.partial = '';
    return this.lines.length === 0 ? '' : `; last output: ${this.lines.slice(-3).join(' | ')}`;
  }
}

class LocalHost implements Host {
  private server: ControlSocketServer | null = null;
  private puppet: Group | null = null;
  private bootScript: Group | null = null;
  private ready = false;
  private failed = false;
  private readyTimer: NodeJS.Timeout | null = null;
  private stopping: Promise<void> | null = null;
  private readonly log: Logger;
  private readonly watchdog = new GroupWatchdog();
  private readonly input: ConsoleInput;

  constructor(
    private readonly spec: HostSpec,
    private readonly cb: HostCallbacks,
    private readonly opts: LocalHostOptions,
  ) {
    this.log = opts.log.child(`job ${spec.jobId}`).child('local host');
    this.input = new ConsoleInput(this.log);
  }

  /** The boot script's stdin is this host's console input, open while the script runs (a pipe, no tty). */
  consoleInput(data: Buffer): 'written' | 'no_input' | 'dropped' {
    return this.input.write(crToLf(data));
  }

  private get paths() {
    const dir = this.spec.jobDir;
    return {
      parameters: join(dir, 'parameters'),
      bin: join(dir, 'bin'),
      socket: join(dir, 'puppet.sock'),
    };
  }

  async boot(): Promise<void> {
    try {
      this.cb.onStage('provisioning', null);
      const entrypoint = await this.provision();
      if (this.stopping !== null) return;

      const server = await ControlSocketServer.listen({
        host: '127.0.0.1',
        port: 0,
        context: {
          jobId: this.spec.jobId,
          hostId: randomUUID(),
          sshKeys: this.spec.sshKeys,
          networkConfig: null,
          parameters: this.spec.parameters,
        },
        log: demoted(this.log, 'info', 'debug'),
      });
      if (this.stopping !== null) {
        await server.close();
        return;
      }
      this.server = server;
      server.on('puppet-event', (event: PuppetEvent) => this.onPuppetEvent(event, entrypoint));

      this.cb.onStage('booting', `tml-puppet daemon on control socket 127.0.0.1:${server.port}`);
      this.startPuppet(server.port);
    } catch (err) {
      this.startError(
        err instanceof Error ? err.message : String(err),
        err instanceof HostStartError ? err.kind : undefined,
      );
    }
  }

  /** Lays out the job directory: parameters dir, the boot script, a `tml-puppet` on PATH. Returns the script path. */
  private async provision(): Promise<string> {
    const { manifest } = this.spec;
    const blobName = manifest.attrs[LOCAL_ENTRYPOINT_ATTR];
    if (blobName === undefined) {
      throw new HostStartError(
        'ImageNotCompatible',
        `image ${this.spec.imageId} has no attribute ${LOCAL_ENTRYPOINT_ATTR}; the local host needs it to name the boot script blob`,
      );
    }
    const blob = manifest.blobs[blobName];
    if (blob === undefined) {
      throw new HostStartError(
        'ImageInvalid',
        `image ${this.spec.imageId}: ${LOCAL_ENTRYPOINT_ATTR} names blob ${JSON.stringify(blobName)}, which the image does not have`,
      );
    }
    const { parameters, bin } = this.paths;
    await mkdir(parameters, { mode: 0o700 });
    await mkdir(bin, { mode: 0o755 });
    const script = join(this.spec.jobDir, 'boot');
    await copyFile(blobPath(this.spec.storeDir, blob.digest), script);
    await chmod(script, 0o755);
    const wrapper = join(bin, 'tml-puppet');
    await writeFile(wrapper, wrapperScript(this.opts.puppet), { mode: 0o755 });
    return script;
  }

  private environment(extra: Record<string, string>): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = {};
    for (const name of INHERITED_ENV) {
      const value = process.env[name];
      if (value !== undefined) env[name] = value;
    }
    env.PATH = `${this.paths.bin}:${process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin'}`;
    return { ...env, ...extra };
  }

  private startPuppet(port: number): void {
    const { parameters, socket } = this.paths;
    const args = [
      ...this.opts.puppet.args,
      'daemon',
      '--transport',
      'tcp',
      '--tcp-control-socket-addr',
      `127.0.0.1:${port}`,
      '--parameters-dir',
      parameters,
      '--job-info-dir',
      this.spec.jobDir,
      '--socket',
      socket,
      '--dbus-bus',
      'none',
      // Nothing to power off: a shutdown request ends the job instead (the supervisor sees `shutdown`).
      '--shutdown-command',
      'true',
      '--reboot-command',
      'true',
    ];
    if (this.opts.puppetLogLevel !== undefined) args.push('--log-level', this.opts.puppetLogLevel);
    const puppet = spawnGroup(this.opts.puppet.command, args, { cwd: this.spec.jobDir, env: this.environment({}) });
    this.puppet = puppet;
    this.outlive(puppet);
    const tail = new TailLines((line) => this.log.debug(`puppet: ${line}`));
    puppet.child.stdout!.on('data', (chunk: Buffer) => tail.push(chunk));
    puppet.child.stderr!.on('data', (chunk: Buffer) => tail.push(chunk));
    puppet.child.once('error', (err) =>
      this.startError(`cannot start the puppet (${this.opts.puppet.command}): ${err.message}`),
    );
    puppet.child.once('exit', (code, signal) => {
      if (this.stopping !== null) return;
      if (!this.ready) {
        void puppet.closed.then(() =>
          this.startError(`the puppet exited before it was ready (${signal ?? `code ${code}`})${tail.summary()}`),
        );
        return;
      }
      this.log.warn(`the puppet exited (${signal ?? `code ${code}`})`);
      this.cb.onExit({ kind: 'puppet', code, signal });
    });
    const timeoutMs = this.opts.readyTimeoutMs ?? 30_000;
    this.readyTimer = setTimeout(() => {
      this.startError(`the puppet did not report ready within ${Math.round(timeoutMs / 1000)} s${tail.summary()}`);
    }, timeoutMs);
  }

  private onPuppetEvent(event: PuppetEvent, entrypoint: string): void {
    if (this.failed) return;
    // Also while stopping: what the puppet sent before it ended (a result declared just before the
    // boot script exited) is still the job's.
    if (event.type !== 'ready') {
      this.cb.onPuppetEvent(event);
      return;
    }
    // A puppet that reconnects says ready again; the host only boots once.
    if (this.ready || this.stopping !== null) return;
    this.ready = true;
    if (this.readyTimer !== null) clearTimeout(this.readyTimer);
    this.cb.onReady();
    this.startBootScript(entrypoint);
  }

  private startBootScript(script: string): void {
    const { parameters, socket } = this.paths;
    const boot = spawnGroup(script, [], {
      cwd: this.spec.jobDir,
      env: this.environment({
        [PUPPET_SOCKET_ENV]: socket,
        [PARAMETERS_DIR_ENV]: parameters,
        TML_JOB_ID: this.spec.jobId,
      }),
      stdin: 'pipe',
    });
    this.bootScript = boot;
    this.outlive(boot);
    this.input.attach(boot.child.stdin);
    for (const stream of [boot.child.stdout!, boot.child.stderr!]) {
      stream.on('data', (chunk: Buffer) => {
        const backedUp = this.cb.onConsole(chunk);
        if (backedUp === undefined) return;
        stream.pause();
        void backedUp.finally(() => stream.resume());
      });
    }
    boot.child.once('error', (err) => this.startError(`cannot run the boot script: ${err.message}`));
    boot.child.once('exit', (code, signal) => {
      if (this.stopping !== null || this.failed) return;
      // Wait for the pipes so the console is complete before the job ends.
      void boot.closed.then(() => this.cb.onExit({ kind: 'boot-script', code, signal }));
    });
  }

  /** A group must not outlive the supervisor: killed if it dies, or by the next one at start. */
  private outlive(group: Group): void {
    const pgid = group.child.pid;
    if (pgid === undefined) return;
    recordProcessGroup(this.spec.jobDir, pgid);
    this.watchdog.watch(pgid);
  }

  private startError(message: string, kind?: HostStartErrorKind): void {
    if (this.stopping !== null || this.failed) return;
    this.failed = true;
    if (this.readyTimer !== null) clearTimeout(this.readyTimer);
    this.cb.onStartError(message, kind);
  }

  stop(): Promise<void> {
    this.stopping ??= this.teardown();
    return this.stopping;
  }

  private async teardown(): Promise<void> {
    if (this.readyTimer !== null) clearTimeout(this.readyTimer);
    this.input.close();
    // The puppet ends its connection once what it wrote is out (SIGTERM makes it close cleanly), so
    // its end means every frame it sent before has been read and handled.
    const server = this.server;
    const drained =
      server === null || !server.connected ? Promise.resolve() : once(server, 'disconnect').then(() => undefined);
    const groups = [this.bootScript, this.puppet].filter((g): g is Group => g !== null);
    for (const g of groups) signalGroup(g, 'SIGTERM');
    const all = Promise.all(groups.map((g) => g.closed));
    if ((await Promise.race([all, delay(this.opts.stopGraceMs ?? 2000)])) === 'timeout') {
      this.log.warn('processes still running after SIGTERM; sending SIGKILL');
    }
    // Also reaches what the leaders left behind in their groups after exiting.
    for (const g of groups) signalGroup(g, 'SIGKILL');
    if ((await Promise.race([all, delay(2000)])) === 'timeout') {
      this.log.error('processes survived SIGKILL (a child left its process group?)');
    }
    this.watchdog.release();
    const drainMs = this.opts.drainMs ?? 10_000;
    if ((await Promise.race([drained, delay(drainMs)])) === 'timeout') {
      this.log.warn(`the puppet's control connection did not end within ${drainMs / 1000} s; dropping the rest`);
    }
    await server?.close();
  }
}
