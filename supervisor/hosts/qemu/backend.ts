// The `qemu` host: each job is a VM booted from a `qemu_layered_v0` image. The chain of qcow2 layers
// is checked, a per-job overlay is created on the head blob, the control socket is served (its
// address handed to the guest in fw_cfg, where the puppet's auto_discover finds it), and QEMU runs
// with its serial console on stdout, which becomes the job's console. QMP tells us about guest
// resets and power-offs and asks the guest to power down when a job ends.

import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { accessSync, constants } from 'node:fs';
import { access, copyFile, mkdir, realpath, rm } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { blobPath } from '../../../imagetool/index.js';
import type { PuppetEvent } from '../../../protocol/control-socket/messages.js';
import { ControlSocketServer } from '../../control-socket/server.js';
import { claimJobDir, removeLeftoverJobDirs } from '../../leftovers.js';
import { ConsoleInput } from '../../console-input.js';
import { demoted, type Logger } from '../../../protocol/log.js';
import {
  HostStartError,
  type Host,
  type HostBackend,
  type HostCallbacks,
  type HostSpec,
  type HostStartErrorKind,
  type SshEndpoint,
  type StopMode,
} from '../host.js';
import { chooseAccel, type AccelChoice } from './accel.js';
import { ChainError, checkChain, directBoot, type CheckedChain } from './chain.js';
import {
  defaultQemuArgs,
  parseStartScriptOutput,
  qmpArgs,
  renderArgs,
  renderTemplate,
  sshForwardPort,
  TemplateError,
  type Variables,
} from './command-line.js';
import type { QemuConfig } from './config.js';
import { QmpClient, type QmpEvent } from './qmp.js';
import { createOverlay, qemuImgInfo, runStartScript, type ScriptRun } from './tools.js';

export interface QemuHostOptions {
  config: QemuConfig;
  log: Logger;
  /** The accelerator to use instead of probing (tests, benchmarks). */
  accel?: AccelChoice;
}

/** Unix socket paths are limited to 107 bytes. */
const MAX_SOCKET_PATH = 107;

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * util-linux's setpriv, if present: QEMU is started through `setpriv --pdeathsig KILL`, so a
 * supervisor that dies (even by SIGKILL) takes its VM with it instead of leaving it running.
 */
const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => {
  try {
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
});

/** Whether a command name (looked up on PATH) or path is an executable file. */
function executable(command: string): boolean {
  const dirs = command.includes('/') ? [''] : (process.env.PATH ?? '/usr/bin:/bin').split(delimiter);
  return dirs.some((d) => {
    try {
      accessSync(d === '' ? command : join(d, command), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

// Job directories of dead supervisors are removed at start (overlays can be gigabytes).
export { removeLeftoverJobDirs };

export class QemuHostBackend implements HostBackend {
  readonly name = 'qemu';
  readonly hostId = randomUUID();
  private accel: Promise<AccelChoice> | null;
  private readonly cleaned: Promise<void>;

  constructor(private readonly opts: QemuHostOptions) {
    this.accel = opts.accel === undefined ? null : Promise.resolve(opts.accel);
    const jobsDir = join(opts.config.stateDir, 'jobs');
    this.cleaned = removeLeftoverJobDirs(jobsDir).then(
      (removed) => {
        if (removed.length > 0)
          opts.log.info(
            `qemu host: removed ${removed.length} leftover job director${removed.length > 1 ? 'ies' : 'y'} in ${jobsDir}`,
          );
      },
      (err: unknown) => opts.log.warn(`qemu host: cannot clean ${jobsDir}: ${errorMessage(err)}`),
    );
  }

  get config(): QemuConfig {
    return this.opts.config;
  }

  /** Leftovers of earlier runs are gone once this resolves. */
  ready(): Promise<void> {
    return this.cleaned;
  }

  /** Probes the accelerator once (by booting a guest) and logs the choice. */
  accelerator(): Promise<AccelChoice> {
    this.accel ??= chooseAccel({
      mode: this.opts.config.accel,
      qemuBinary: this.opts.config.qemuBinary,
      firmwareCode: this.opts.config.firmwareCode,
      firmwareVars: this.opts.config.firmwareVars,
      log: this.opts.log,
    }).then((choice) => {
      this.opts.log.info(`qemu host: using ${choice.name.toUpperCase()} (${choice.reason})`);
      return choice;
    });
    return this.accel;
  }

  start(spec: HostSpec, callbacks: HostCallbacks): Host {
    const host = new QemuHost(this, spec, callbacks, this.opts.log);
    void host.boot();
    return host;
  }
}

/** Keeps the end of a text stream, to explain failures. */
class Tail {
  private text = '';
  constructor(private readonly keep = 4096) {}
  push(chunk: string): void {
    this.text = (this.text + chunk).slice(-this.keep);
  }
  lines(n: number): string {
    const lines = this.text
      .replace(/\x1b\[[0-9;=?]*[A-Za-z]/g, '')
      .split(/\r?\n/)
      .map((l) => l.trim())
      .filter((l) => l !== '');
    return lines.slice(-n).join(' | ');
  }
}

class QemuHost implements Host {
  private readonly config: QemuConfig;
  private readonly log: Logger;
  private readonly workdir: string;
  private server: ControlSocketServer | null = null;
  private qemu: ChildProcess | null = null;
  private qemuExited: Promise<void> | null = null;
  private qmp: QmpClient | null = null;
  private script: ScriptRun | null = null;
  private stopping: Promise<void> | null = null;
  private failed = false;
  private ready = false;
  private guestPoweredOff = false;
  private readyTimer: NodeJS.Timeout | null = null;
  private sshEndpoints: SshEndpoint[] = [];
  private readonly console = new Tail();
  private readonly stderr = new Tail();
  private readonly input: ConsoleInput;

  constructor(
    private readonly backend: QemuHostBackend,
    private readonly spec: HostSpec,
    private readonly cb: HostCallbacks,
    log: Logger,
  ) {
    this.config = backend.config;
    this.log = log.child(`job ${spec.jobId}`).child('qemu host');
    this.workdir = join(this.config.stateDir, 'jobs', spec.jobId);
    this.input = new ConsoleInput(this.log);
  }

  /** QEMU's stdin: the guest's serial port with the built-in command line (`-serial stdio`). */
  consoleInput(data: Buffer): 'written' | 'no_input' | 'dropped' {
    return this.input.write(data);
  }

  async boot(): Promise<void> {
    try {
      this.cb.onStage('provisioning', null);
      await this.backend.ready();
      const disk = await this.provision();
      if (this.stopping !== null) return;
      await this.launch(disk);
    } catch (err) {
      this.startError(errorMessage(err), err instanceof HostStartError ? err.kind : 'InternalError');
    }
  }

  /** Job directory, chain check, overlay; returns the overlay's path. */
  private async provision(): Promise<{ path: string; chain: CheckedChain }> {
    const { spec, config } = this;
    await mkdir(join(config.stateDir, 'jobs'), { recursive: true, mode: 0o700 });
    try {
      await mkdir(this.workdir, { mode: 0o700 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST')
        throw new Error(`job directory ${this.workdir} already exists (job ${spec.jobId} started twice?)`);
      throw err;
    }
    await claimJobDir(this.workdir);
    let chain: CheckedChain;
    try {
      chain = await checkChain(
        spec.manifest,
        {
          blobPath: (digest) => blobPath(spec.storeDir, digest),
          realpath: (p) => realpath(p),
          info: (p) => qemuImgInfo(config.qemuImgBinary, p),
        },
        config.workingDiskMaxBytes,
      );
    } catch (err) {
      if (err instanceof ChainError)
        throw new HostStartError(err.kind, `image ${spec.imageId} failed the layer chain check: ${err.message}`);
      throw err;
    }
    this.log.debug(`chain ok: ${chain.layers.join(' -> ')}`);
    const path = join(this.workdir, 'disk.qcow2');
    const started = performance.now();
    await createOverlay(config.qemuImgBinary, chain.headPath, path, config.workingDiskMaxBytes).catch(
      (err: unknown) => {
        throw new Error(`cannot create the job's disk overlay: ${errorMessage(err)}`);
      },
    );
    this.log.debug(`overlay ${path} on ${chain.headPath} created in ${(performance.now() - started).toFixed(0)} ms`);
    return { path, chain };
  }

  private async launch(disk: { path: string }): Promise<void> {
    const { spec, config } = this;
    const direct = config.directKernelBoot ? directBoot(spec.manifest, (d) => blobPath(spec.storeDir, d)) : null;
    const vars: Variables = {
      job_id: spec.jobId,
      job_workdir: this.workdir,
      main_disk_image: disk.path,
      firmware_code: config.firmwareCode,
      ssh_host: config.sshHost,
      cpus: String(config.cpus),
      memory_mib: String(config.memoryMiB),
    };
    if (direct !== null) {
      vars.kernel = direct.kernel;
      if (direct.initrd !== null) vars.initrd = direct.initrd;
      vars.kernel_cmdline = direct.cmdline;
    } else {
      try {
        await copyFile(config.firmwareVars, join(this.workdir, 'OVMF_VARS.fd'));
        await access(config.firmwareCode, constants.R_OK);
      } catch {
        if (config.qemuArgs === null)
          throw new Error(
            `UEFI firmware ${config.firmwareCode} / ${config.firmwareVars} not found (Debian/Ubuntu: apt-get install ovmf)`,
          );
      }
      vars.firmware_vars = join(this.workdir, 'OVMF_VARS.fd');
    }

    const accel = await this.backend.accelerator();
    vars.accel = accel.accel;
    vars.cpu = accel.cpu;
    if (this.stopping !== null) return;

    const server = await ControlSocketServer.listen({
      host: config.tcpControlSocketListenAddr.host,
      port: config.tcpControlSocketListenAddr.port,
      context: {
        jobId: spec.jobId,
        hostId: this.backend.hostId,
        sshKeys: spec.sshKeys,
        // As upstream: a hostname only; the guest's own DHCP does the rest.
        networkConfig: { hostname: `job-${spec.jobId.slice(0, 10)}`, interface: null, ipv4: null, ipv6: null },
        parameters: spec.parameters,
      },
      log: demoted(this.log, 'info', 'debug'),
    }).catch((err: unknown) => {
      throw new Error(
        `cannot listen for the control socket on ${config.tcpControlSocketListenAddr.host}:${config.tcpControlSocketListenAddr.port}: ${errorMessage(err)}`,
      );
    });
    this.server = server;
    if (this.stopping !== null) return;
    server.on('puppet-event', (event: PuppetEvent) => this.onPuppetEvent(event));
    vars.control_socket_port = String(server.port);
    vars.control_socket_addr = `${server.host.includes(':') ? `[${server.host}]` : server.host}:${server.port}`;
    vars.guest_control_socket_addr = renderTemplate(config.guestControlSocketAddr, vars);

    if (config.startScript !== null) {
      const upper: Record<string, string> = {};
      for (const key of ['job_id', 'job_workdir', 'main_disk_image']) upper[`TML_${key.toUpperCase()}`] = vars[key]!;
      this.script = runStartScript(config.startScript, upper, config.startScriptTimeoutMs, (line) =>
        this.log.info(`start script: ${line}`),
      );
      const parsed = parseStartScriptOutput(await this.script.done);
      this.script = null;
      for (const line of parsed.malformed) this.log.warn(`start script: malformed ${JSON.stringify(line)}`);
      Object.assign(vars, parsed.vars);
      if (this.stopping !== null) return;
    }

    let args: string[];
    try {
      const templates =
        config.qemuArgs ??
        defaultQemuArgs({ boot: direct === null ? 'uefi' : 'direct', sshForward: config.sshForward }).filter(
          (a, i, all) => !(direct?.initrd === null && (a === '-initrd' || all[i - 1] === '-initrd')),
        );
      args = renderArgs(templates, vars);
    } catch (err) {
      if (err instanceof TemplateError) throw new Error(`cannot build the QEMU command line: ${err.message}`);
      throw err;
    }
    const qmpPath = join(this.workdir, 'qmp.sock');
    if (!args.includes('-qmp')) {
      if (Buffer.byteLength(qmpPath) > MAX_SOCKET_PATH)
        throw new Error(`state_dir is too long: the QMP socket path ${qmpPath} exceeds ${MAX_SOCKET_PATH} bytes`);
      args.push(...qmpArgs(qmpPath));
    }
    if (!executable(config.qemuBinary))
      throw new Error(`${config.qemuBinary} not found (Debian/Ubuntu: apt-get install qemu-system-x86)`);
    this.spawnQemu(args, accel);
    if (this.qemu === null) return;
    this.cb.onStage(
      'booting',
      `QEMU (${accel.name.toUpperCase()}) started; control socket ${vars.control_socket_addr}, guest uses ${vars.guest_control_socket_addr}`,
    );
    this.armReadyTimer();
    await this.connectQmp(qmpPath);
  }

  private spawnQemu(args: string[], accel: AccelChoice): void {
    const { config } = this;
    this.log.info(`starting ${config.qemuBinary} (${accel.name}) ${args.join(' ')}`);
    const [command, argv] =
      SETPRIV === undefined
        ? [config.qemuBinary, args]
        : [SETPRIV, ['--pdeathsig', 'KILL', '--', config.qemuBinary, ...args]];
    const child = spawn(command, argv, { cwd: this.workdir, stdio: ['pipe', 'pipe', 'pipe'] });
    this.qemu = child;
    this.input.attach(child.stdin);
    const stdoutClosed = new Promise<void>((resolve) => child.stdout!.once('close', () => resolve()));
    this.qemuExited = new Promise<void>((resolve) => {
      child.once('close', () => resolve());
      child.once('error', () => resolve());
    });
    child.stdout!.on('data', (chunk: Buffer) => {
      this.console.push(chunk.toString('latin1'));
      const backedUp = this.cb.onConsole(chunk);
      if (backedUp === undefined) return;
      child.stdout!.pause();
      void backedUp.finally(() => child.stdout!.resume());
    });
    child.stderr!.on('data', (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      this.stderr.push(text);
      for (const line of text.split('\n')) if (line.trim() !== '') this.log.info(`qemu: ${line.trim()}`);
    });
    child.once('error', (err) => {
      const hint =
        (err as NodeJS.ErrnoException).code === 'ENOENT' ? ' (Debian/Ubuntu: apt-get install qemu-system-x86)' : '';
      this.startError(`cannot start ${config.qemuBinary}: ${err.message}${hint}`);
    });
    child.once('exit', (code, signal) => {
      if (this.stopping !== null || this.failed) return;
      void stdoutClosed.then(() => this.onQemuExit(code, signal));
    });
  }

  private async connectQmp(path: string): Promise<void> {
    try {
      const qmp = await QmpClient.connect(path, { timeoutMs: 15_000 });
      if (this.stopping !== null || this.qemu?.exitCode !== null) {
        qmp.close();
        return;
      }
      this.qmp = qmp;
      qmp.on('event', (e: QmpEvent) => this.onQmpEvent(e));
      if (this.config.sshForward) {
        const port = sshForwardPort(await qmp.hmp('info usernet'));
        if (port !== null) {
          this.sshEndpoints = [{ host: this.config.sshHost, port }];
          this.log.info(`guest SSH forwarded from ${this.config.sshHost}:${port}`);
        }
      }
    } catch (err) {
      if (this.stopping === null && this.qemu?.exitCode === null)
        this.log.warn(`no QMP (${errorMessage(err)}): guest resets go unnoticed and stopping kills QEMU`);
    }
  }

  private onQmpEvent(e: QmpEvent): void {
    this.log.debug(`qmp event ${e.event} ${JSON.stringify(e.data)}`);
    if (e.event === 'SHUTDOWN' && e.data.guest === true) this.guestPoweredOff = true;
    if (e.event === 'RESET' && e.data.guest === true && this.stopping === null && !this.failed) {
      if (this.ready) {
        this.ready = false;
        this.cb.onRebooting('the guest is rebooting');
      }
      this.armReadyTimer();
    }
  }

  private armReadyTimer(): void {
    if (this.readyTimer !== null) clearTimeout(this.readyTimer);
    const ms = this.config.readyTimeoutMs;
    this.readyTimer = setTimeout(() => {
      const tail = this.console.lines(3);
      this.startError(
        `the puppet in the guest did not report ready within ${Math.round(ms / 1000)} s${tail ? `; last console output: ${tail}` : ''}`,
      );
    }, ms);
    this.readyTimer.unref();
  }

  private onPuppetEvent(event: PuppetEvent): void {
    if (this.stopping !== null || this.failed) return;
    if (event.type !== 'ready') {
      this.cb.onPuppetEvent(event);
      return;
    }
    // A puppet that reconnects says ready again; only a reset makes a new boot.
    if (this.ready) return;
    this.ready = true;
    if (this.readyTimer !== null) clearTimeout(this.readyTimer);
    this.cb.onReady({ sshEndpoints: this.sshEndpoints, sshUser: this.config.sshUser });
  }

  private onQemuExit(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.readyTimer !== null) clearTimeout(this.readyTimer);
    const how = signal !== null ? `was killed by ${signal}` : `exited with code ${code}`;
    const detail = this.stderr.lines(2);
    if (!this.ready && !this.guestPoweredOff) {
      const tail = detail || this.console.lines(3);
      this.startError(`QEMU ${how} before the guest was ready${tail ? `: ${tail}` : ''}`);
      return;
    }
    const reason =
      this.guestPoweredOff && code === 0 ? 'the guest powered off' : `QEMU ${how}${detail ? `: ${detail}` : ''}`;
    this.log.info(reason);
    this.cb.onExit({ kind: 'machine', reason });
  }

  private startError(message: string, kind: HostStartErrorKind = 'InternalError'): void {
    if (this.stopping !== null || this.failed) return;
    this.failed = true;
    if (this.readyTimer !== null) clearTimeout(this.readyTimer);
    this.cb.onStartError(message, kind);
  }

  stop(mode: StopMode = 'graceful'): Promise<void> {
    this.stopping ??= this.teardown(mode);
    return this.stopping;
  }

  private async teardown(mode: StopMode): Promise<void> {
    if (this.readyTimer !== null) clearTimeout(this.readyTimer);
    this.script?.kill();
    this.input.close();
    const qemu = this.qemu;
    if (qemu !== null && qemu.exitCode === null && qemu.signalCode === null) {
      // A guest still coming up has no workload to save: only a ready one is asked to power off.
      const graceful = mode === 'graceful' && !this.failed && (this.ready || this.server?.connected === true);
      if (graceful) await this.shutDownGuest();
      if (qemu.exitCode === null && qemu.signalCode === null) {
        if (graceful) this.log.warn('the guest did not power off in time; killing QEMU');
        qemu.kill('SIGKILL');
      }
    }
    await this.qemuExited;
    this.qmp?.close();
    await this.server?.close();
    await rm(this.workdir, { recursive: true, force: true });
  }

  /** Asks the guest to power off (puppet first, else ACPI), waiting at most shutdown_timeout_secs. */
  private async shutDownGuest(): Promise<void> {
    const total = this.config.shutdownTimeoutMs;
    const exited = this.qemuExited!;
    const wait = (ms: number) =>
      Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms).unref())]);
    let acpiSent = false;
    const acpi = async () => {
      if (acpiSent || this.qmp === null) return;
      acpiSent = true;
      this.log.info('asking the guest to power off (ACPI power button)');
      await this.qmp.execute('system_powerdown').catch(() => {});
    };
    if (this.server?.connected === true) {
      this.log.info('asking the guest to power off (shutdownreq to the puppet)');
      this.server.sendEvent({ type: 'shutdownreq' });
    } else {
      await acpi();
    }
    if (await wait(total / 2)) return;
    await acpi();
    await wait(total / 2);
  }
}
