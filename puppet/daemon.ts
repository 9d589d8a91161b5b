// `tml-puppet daemon`: start-up sequence, supervisor events, and the local CLI's requests.

import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { FrameEncodeError } from '../protocol/control-socket/framing.js';
import type { SupervisorEvent, SupervisorResp } from '../protocol/control-socket/messages.js';
import { CommandRunner } from './commands.js';
import { SupervisorConnection, parseSocketAddress, type SocketAddress } from './connection.js';
import { ParameterFiles, writeAuthorizedKeys, writeJobInfo } from './files.js';
import type { LocalRequest, LocalResponse } from './local-protocol.js';
import { LocalSocketServer } from './local-socket.js';
import type { Log } from './log.js';
import { runNetworkConfigScript } from './network.js';
import { QueueFullError } from './outbox.js';
import { notifyReady } from './sdnotify.js';

export const FW_CFG_PATH = '/sys/firmware/qemu_fw_cfg/by_name/opt/org.tockos.treadmill.tcp-ctrl-socket/raw';

export interface DaemonOptions {
  transport: 'tcp' | 'auto_discover';
  tcpControlSocketAddr?: string | undefined;
  fwCfgPath: string;
  parametersDir?: string | undefined;
  jobInfoDir?: string | undefined;
  authorizedKeysFile?: string | undefined;
  exitOnAuthorizedKeysUpdateError: boolean;
  networkConfigScript?: string | undefined;
  exitOnNetworkConfigError: boolean;
  socket: string;
  socketGroup?: string | undefined;
  shutdownCommand: string;
  rebootCommand: string;
  log: Log;
}

export class FatalError extends Error {}

export async function controlSocketAddress(opts: DaemonOptions): Promise<SocketAddress> {
  if (opts.transport === 'tcp') {
    if (!opts.tcpControlSocketAddr) throw new FatalError('--transport tcp needs --tcp-control-socket-addr IP:PORT');
    return parseSocketAddress(opts.tcpControlSocketAddr);
  }
  let text: string;
  try {
    text = await fs.readFile(opts.fwCfgPath, 'utf8');
  } catch (e) {
    throw new FatalError(
      `auto_discover: cannot read ${opts.fwCfgPath}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
  return parseSocketAddress(text.replace(/\0+$/, ''));
}

export class Daemon {
  readonly #opts: DaemonOptions;
  readonly #log: Log;
  #conn!: SupervisorConnection;
  #commands!: CommandRunner;
  #local: LocalSocketServer | null = null;
  #parameters: ParameterFiles | null;
  #jobInfo: { jobId: string; hostId: string } | null = null;
  #readySent = false;
  #networkConfigured = false;
  #startupRunning = false;
  #startupAgain = false;
  #stopping = false;
  #fatal: (message: string) => void;

  constructor(opts: DaemonOptions, onFatal: (message: string) => void) {
    this.#opts = opts;
    this.#log = opts.log;
    this.#parameters = opts.parametersDir ? new ParameterFiles(opts.parametersDir) : null;
    this.#fatal = onFatal;
  }

  async start(): Promise<void> {
    const address = await controlSocketAddress(this.#opts);
    this.#conn = new SupervisorConnection({ address, log: this.#log });
    this.#commands = new CommandRunner(this.#conn, this.#log);
    this.#local = await LocalSocketServer.listen({
      path: this.#opts.socket,
      group: this.#opts.socketGroup,
      handler: (req) => this.#handleLocal(req),
      log: this.#log,
    });
    this.#conn.on('connected', () => void this.#startup());
    this.#conn.on('event', (event: SupervisorEvent, id: number) => this.#onEvent(event, id));
    this.#log.info(`connecting to supervisor at ${address.host}:${address.port}`);
    this.#conn.start();
  }

  async stop(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    this.#commands?.killAll();
    this.#conn?.close();
    await this.#local?.close();
  }

  // Runs on every (re)connection: the supervisor may have restarted with fresh data. Only the
  // network script and `ready` are once-only: re-running either would disturb a running job.
  async #startup(): Promise<void> {
    if (this.#startupRunning) {
      this.#startupAgain = true;
      return;
    }
    this.#startupRunning = true;
    try {
      do {
        this.#startupAgain = false;
        await this.#fetchAndWrite();
      } while (this.#startupAgain);
      if (!this.#readySent) {
        this.#readySent = true;
        await this.#conn.sendEvent({ type: 'ready' });
        this.#log.info('sent ready to the supervisor');
        const err = await notifyReady();
        if (err) this.#log.warn(err);
      }
    } catch (e) {
      if (!this.#stopping) this.#fatal((e as Error).message);
    } finally {
      this.#startupRunning = false;
    }
  }

  async #fetchAndWrite(): Promise<void> {
    const o = this.#opts;
    const info = await this.#conn.request('jobinfo');
    if (info.type === 'jobinfo') {
      this.#jobInfo = { jobId: info.job_id, hostId: info.host_id };
      this.#log.info(`job ${info.job_id} on host ${info.host_id}`);
      if (o.jobInfoDir) await writeJobInfo(o.jobInfoDir, info.job_id, info.host_id);
    } else {
      this.#log.warn(`supervisor answered jobinfo with ${info.type}`);
    }

    if (this.#parameters) {
      const resp = await this.#conn.request('parameters');
      if (resp.type === 'parameters') {
        const r = await this.#parameters.write(resp.parameters);
        const secret = Object.values(resp.parameters).filter((p) => p.secret).length;
        this.#log.info(
          `wrote ${r.written.length} parameter file(s) (${secret} secret) to ${this.#parameters.dir}` +
            (r.removed.length ? `, removed ${r.removed.join(', ')}` : ''),
        );
        for (const name of r.skipped)
          this.#log.warn(`parameter ${JSON.stringify(name)} has no usable file name; skipped`);
        for (const name of r.collisions)
          this.#log.warn(`parameter ${JSON.stringify(name)} shares its file name with another parameter`);
      } else {
        this.#log.warn(`supervisor answered parameters with ${resp.type}`);
      }
    }

    if (o.authorizedKeysFile) await this.#updateSshKeys();

    if (o.networkConfigScript && !this.#networkConfigured) {
      this.#networkConfigured = true;
      const resp = await this.#conn.request('networkconfig');
      if (resp.type === 'networkconfig') {
        const err = await runNetworkConfigScript(o.networkConfigScript, resp);
        if (err && o.exitOnNetworkConfigError) throw new FatalError(err);
        if (err) this.#log.error(err);
        else this.#log.info(`network configured by ${o.networkConfigScript}`);
      } else {
        this.#log.info(`supervisor has no network configuration (${resp.type}); ${o.networkConfigScript} not run`);
      }
    }
  }

  async #updateSshKeys(): Promise<void> {
    const file = this.#opts.authorizedKeysFile!;
    let error: string;
    try {
      const resp: SupervisorResp = await this.#conn.request('sshkeys');
      if (resp.type === 'sshkeysresp') {
        await writeAuthorizedKeys(file, resp.ssh_keys);
        this.#log.info(`wrote ${resp.ssh_keys.length} SSH key(s) to ${file}`);
        return;
      }
      error = `supervisor answered sshkeys with ${resp.type}`;
    } catch (e) {
      error = `updating ${file} failed: ${(e as Error).message}`;
    }
    if (this.#opts.exitOnAuthorizedKeysUpdateError) throw new FatalError(error);
    this.#log.error(error);
  }

  #onEvent(event: SupervisorEvent, id: number): void {
    this.#log.debug(`supervisor event ${id} (${event.type})`);
    switch (event.type) {
      case 'runcommand':
        this.#commands.run(id, event.cmdline, event.environment);
        break;
      case 'killcommand':
        this.#commands.kill(event.supervisor_event_id);
        break;
      case 'sshkeysupdated':
        if (!this.#opts.authorizedKeysFile) {
          this.#log.info('SSH keys updated, but no --authorized-keys-file is configured');
          break;
        }
        this.#updateSshKeys().catch((e: Error) => this.#fatal(e.message));
        break;
      case 'shutdownreq':
        void this.#powerAction('shutdown', id, this.#opts.shutdownCommand);
        break;
      case 'rebootreq':
        void this.#powerAction('reboot', id, this.#opts.rebootCommand);
        break;
    }
  }

  async #powerAction(type: 'shutdown' | 'reboot', id: number, command: string): Promise<void> {
    this.#log.info(`supervisor requested ${type}; acknowledging, then running: ${command}`);
    try {
      await this.#conn.sendEvent({ type, supervisor_event_id: id });
    } catch (e) {
      this.#log.warn(`${type} acknowledgement not delivered: ${(e as Error).message}`);
    }
    // an administrator's command line, e.g. "systemctl poweroff"
    const child = spawn('/bin/sh', ['-c', command], { stdio: ['ignore', 'inherit', 'inherit'] });
    child.once('error', (err) => this.#log.error(`${type} command failed to start: ${err.message}`));
    child.once('exit', (code, signal) => {
      if (code !== 0)
        this.#log.error(`${type} command ${signal ? `was killed by ${signal}` : `exited with code ${code}`}`);
    });
  }

  async #handleLocal(req: LocalRequest): Promise<LocalResponse> {
    const connected = this.#conn.connected;
    try {
      switch (req.op) {
        case 'ping':
          return { ok: true, connected };
        case 'jobinfo':
          if (!this.#jobInfo) return { ok: false, error: 'job info not received from the supervisor yet' };
          return { ok: true, job_id: this.#jobInfo.jobId, host_id: this.#jobInfo.hostId };
        case 'substate':
          this.#log.info(`local client: substate ${JSON.stringify(req.substate)}`);
          this.#report({ type: 'reportsubstate', substate: req.substate });
          return { ok: true, connected };
        case 'finish':
          this.#log.info(`local client: workload finished: ${req.status}${req.terminate ? ' (terminate)' : ''}`);
          this.#report({
            type: 'declareworkloadexitstatus',
            workload_exit_status: req.status,
            workload_output: req.output,
          });
          if (req.terminate) this.#report({ type: 'terminatejob', supervisor_event_id: null });
          return { ok: true, connected };
        case 'terminate':
          this.#log.info('local client: terminate job');
          this.#report({ type: 'terminatejob', supervisor_event_id: null });
          return { ok: true, connected };
      }
    } catch (e) {
      // refused now, so the client exits non-zero instead of the report vanishing later
      if (e instanceof FrameEncodeError || e instanceof QueueFullError) return { ok: false, error: e.message };
      throw e;
    }
  }

  // Accepted once queued: delivery may wait for a reconnect, and the client must not block on it.
  #report(event: Parameters<SupervisorConnection['sendEvent']>[0]): void {
    this.#conn.sendEvent(event).catch((e: Error) => this.#log.warn(`${event.type} not delivered: ${e.message}`));
  }
}
