// `tml-puppet daemon`: start-up sequence, supervisor events, and the local CLI's requests.

import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { FrameEncodeError } from '../protocol/control-socket/framing.js';
import type { PuppetEvent, SupervisorEvent } from '../protocol/control-socket/messages.js';
import { CommandRunner } from './commands.js';
import {
  ConnectionClosedError,
  ExtensionUnsupportedError,
  SupervisorConnection,
  parseSocketAddress,
  type Reply,
  type SocketAddress,
} from './connection.js';
import { ParameterFiles, acceptableSshKeys, writeAuthorizedKeys, writeJobInfo, type ParameterModes } from './files.js';
import type { LocalRequest, LocalResponse } from './local-protocol.js';
import { LocalSocketServer } from './local-socket.js';
import type { Logger } from '../protocol/log.js';
import { runNetworkConfigScript } from './network.js';
import { QueueFullError } from './outbox.js';
import { notifyReady } from './sdnotify.js';
import {
  MAX_STATUS_MESSAGE_BYTES,
  MAX_WORKLOAD_OUTPUT_BYTES,
  capNullableText,
  capText,
} from '../protocol/text-caps.js';

export interface DaemonOptions {
  transport: 'tcp' | 'auto_discover';
  tcpControlSocketAddr?: string | undefined;
  fwCfgPath: string;
  parametersDir?: string | undefined;
  /** file modes (and a group) for parameter files; upstream's 0644 for all by default */
  parameterModes?: ParameterModes | undefined;
  jobInfoDir?: string | undefined;
  authorizedKeysFile?: string | undefined;
  exitOnAuthorizedKeysUpdateError: boolean;
  networkConfigScript?: string | undefined;
  exitOnNetworkConfigError: boolean;
  requestTimeoutMs?: number | undefined;
  socket: string;
  socketGroup?: string | undefined;
  shutdownCommand: string;
  rebootCommand: string;
  log: Logger;
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

/** Why a local report did not go out, in one line for the client to print. */
const NO_WORKLOAD_REPORTS =
  "the supervisor cannot take workload reports (it does not know this project's declareworkloadexitstatus and reportsubstate events)";

export class Daemon {
  readonly #opts: DaemonOptions;
  readonly #log: Logger;
  #conn!: SupervisorConnection;
  #commands!: CommandRunner;
  #local: LocalSocketServer | null = null;
  #parameters: ParameterFiles | null;
  #jobInfo: { jobId: string; hostId: string | null } | null = null;
  #readySent = false;
  #networkConfigured = false;
  #startupRunning = false;
  #startupAgain = false;
  #stopping = false;
  #fatal: (message: string) => void;

  constructor(opts: DaemonOptions, onFatal: (message: string) => void) {
    this.#opts = opts;
    this.#log = opts.log;
    this.#parameters = opts.parametersDir ? new ParameterFiles(opts.parametersDir, opts.parameterModes) : null;
    this.#fatal = onFatal;
  }

  async start(): Promise<void> {
    const address = await controlSocketAddress(this.#opts);
    this.#conn = new SupervisorConnection({ address, log: this.#log, requestTimeoutMs: this.#opts.requestTimeoutMs });
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
        const readiness = await notifyReady();
        if (readiness.notified) this.#log.debug('signalled readiness to systemd (systemd-notify)');
        else if (readiness.problem === null)
          this.#log.debug('not under systemd (no NOTIFY_SOCKET): readiness not signalled');
        else this.#log.warn(readiness.problem);
      }
    } catch (e) {
      if (!this.#stopping) this.#fatal((e as Error).message);
    } finally {
      this.#startupRunning = false;
    }
  }

  // Upstream's order: job info, SSH keys, network configuration, parameters.
  async #fetchAndWrite(): Promise<void> {
    await this.#updateJobInfo();
    if (this.#opts.authorizedKeysFile) await this.#updateSshKeys();
    if (this.#opts.networkConfigScript && !this.#networkConfigured) {
      this.#networkConfigured = true;
      await this.#configureNetwork(this.#opts.networkConfigScript);
    }
    if (this.#parameters) await this.#updateParameters(this.#parameters);
  }

  async #updateJobInfo(): Promise<void> {
    const dir = this.#opts.jobInfoDir;
    const info = await this.#conn.request('jobinfo');
    if (info.type === 'jobinfo') {
      this.#jobInfo = { jobId: info.job_id, hostId: info.host_id };
      this.#log.info(`job ${info.job_id} on host ${info.host_id}`);
      if (dir) await writeJobInfo(dir, info.job_id, info.host_id);
      return;
    }
    // late-2024 supervisors know only `jobid`, and no host id
    const old = await this.#conn.request('jobid');
    if (old.type === 'jobid') {
      this.#jobInfo = { jobId: old.job_id, hostId: null };
      this.#log.info(`job ${old.job_id} (this supervisor gives no host id: ${describeReply(info)} to jobinfo)`);
      if (dir) await writeJobInfo(dir, old.job_id, null);
      return;
    }
    this.#log.warn(`supervisor gave no job id: ${describeReply(info)} to jobinfo, ${describeReply(old)} to jobid`);
  }

  async #updateSshKeys(): Promise<void> {
    const file = this.#opts.authorizedKeysFile!;
    let error: string;
    try {
      const resp = await this.#conn.request('sshkeys');
      if (resp.type === 'refused' || resp.type === 'unsupportedrequest') {
        // the 2026 supervisors dropped SSH keys: nothing to write, and nothing wrong
        this.#log.info(`supervisor gives no SSH keys (${describeReply(resp)}); ${file} left as it is`);
        return;
      }
      if (resp.type === 'sshkeysresp') {
        const { keys, refused } = acceptableSshKeys(resp.ssh_keys);
        for (const i of refused)
          this.#log.warn(`SSH key ${i + 1} of ${resp.ssh_keys.length} holds a line break or NUL byte; left out`);
        await writeAuthorizedKeys(file, keys);
        this.#log.info(`wrote ${keys.length} SSH key(s) to ${file}`);
        return;
      }
      error = `supervisor answered sshkeys with ${resp.type}`;
    } catch (e) {
      if (e instanceof ConnectionClosedError) throw e;
      error = `updating ${file} failed: ${(e as Error).message}`;
    }
    if (this.#opts.exitOnAuthorizedKeysUpdateError) throw new FatalError(error);
    this.#log.error(error);
  }

  async #configureNetwork(script: string): Promise<void> {
    const resp = await this.#conn.request('networkconfig');
    const error =
      resp.type === 'networkconfig'
        ? await runNetworkConfigScript(script, resp)
        : `no network configuration from the supervisor (${describeReply(resp)}); ${script} not run`;
    if (error === null) this.#log.info(`network configured by ${script}`);
    else if (this.#opts.exitOnNetworkConfigError) throw new FatalError(error);
    else this.#log.error(error);
  }

  async #updateParameters(files: ParameterFiles): Promise<void> {
    const resp = await this.#conn.request('parameters');
    if (resp.type !== 'parameters') {
      this.#log.warn(`supervisor answered parameters with ${describeReply(resp)}; ${files.dir} not written`);
      return;
    }
    const r = await files.write(resp.parameters);
    const secret = Object.values(resp.parameters).filter((p) => p.secret).length;
    this.#log.info(
      `wrote ${r.written.length} parameter file(s) (${secret} secret) to ${files.dir}` +
        (r.removed.length ? `, removed ${r.removed.length} stale file(s)` : ''),
    );
    for (const name of r.skipped) this.#log.warn(`parameter ${JSON.stringify(name)} has no usable file name; skipped`);
    for (const name of r.collisions)
      this.#log.warn(`parameter ${JSON.stringify(name)} shares its file name with another parameter`);
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
        this.#updateSshKeys().catch((e: Error) => {
          if (!this.#stopping) this.#fatal(e.message);
        });
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

  /** Whether the supervisor takes workload reports: null while that is not known (not connected). */
  #takesReports(): boolean | null {
    const ext = this.#conn.extensions;
    return ext === null ? null : ext.has('declareworkloadexitstatus') && ext.has('reportsubstate');
  }

  async #handleLocal(req: LocalRequest): Promise<LocalResponse> {
    try {
      switch (req.op) {
        case 'ping':
          return { ok: true, connected: this.#conn.connected, reports: this.#takesReports() };
        case 'jobinfo':
          if (!this.#jobInfo) return { ok: false, error: 'job info not received from the supervisor yet' };
          return {
            ok: true,
            job_id: this.#jobInfo.jobId,
            ...(this.#jobInfo.hostId !== null && { host_id: this.#jobInfo.hostId }),
          };
        case 'substate': {
          const substate = capText(req.substate, MAX_STATUS_MESSAGE_BYTES);
          this.#log.info(`local client: substate ${JSON.stringify(substate)}`);
          return await this.#report([{ type: 'reportsubstate', substate }]);
        }
        case 'finish': {
          this.#log.info(`local client: workload finished: ${req.status}${req.terminate ? ' (terminate)' : ''}`);
          const output = capNullableText(req.output, MAX_WORKLOAD_OUTPUT_BYTES);
          const events: PuppetEvent[] = [
            { type: 'declareworkloadexitstatus', workload_exit_status: req.status, workload_output: output },
          ];
          if (req.terminate) events.push({ type: 'terminatejob', supervisor_event_id: null });
          return await this.#report(events);
        }
        case 'terminate':
          this.#log.info('local client: terminate job');
          return await this.#report([{ type: 'terminatejob', supervisor_event_id: null }]);
      }
    } catch (e) {
      // refused now, so the client exits non-zero instead of the report vanishing later
      if (e instanceof FrameEncodeError || e instanceof QueueFullError) return { ok: false, error: e.message };
      throw e;
    }
  }

  /**
   * Hands a client's events to the connection and answers once they have left the daemon, i.e.
   * were written to the control socket. While the supervisor is not connected they are queued and
   * the answer says so at once (a boot script must not wait for a reconnect). An event the
   * supervisor cannot take is left out and reported; the others still go.
   */
  async #report(events: PuppetEvent[]): Promise<LocalResponse> {
    const waitForSocket = this.#conn.state !== 'disconnected';
    let unsupported = false;
    const sent: Array<Promise<void>> = [];
    for (const event of events) {
      try {
        const delivered = this.#conn.sendEvent(event);
        // a report given up later (full queue, a supervisor without the extension) is logged
        delivered.catch((e: Error) => this.#log.warn(`${event.type} not delivered: ${e.message}`));
        sent.push(delivered);
      } catch (e) {
        if (!(e instanceof ExtensionUnsupportedError)) throw e;
        this.#log.warn(`${event.type} not sent: ${e.message}`);
        unsupported = true;
      }
    }
    if (!waitForSocket) return { ok: true, connected: false };
    let lost!: () => void;
    const disconnected = new Promise<'lost'>((resolve) => {
      lost = () => resolve('lost');
      this.#conn.once('disconnected', lost);
    });
    try {
      const outcome = await Promise.race([Promise.allSettled(sent), disconnected]);
      if (outcome === 'lost') return { ok: true, connected: false };
      for (const r of outcome) {
        if (r.status === 'fulfilled') continue;
        if (r.reason instanceof ExtensionUnsupportedError) unsupported = true;
        else return { ok: false, error: (r.reason as Error).message };
      }
    } finally {
      this.#conn.off('disconnected', lost);
    }
    if (!unsupported) return { ok: true, connected: true };
    const terminated = events.some((e) => e.type === 'terminatejob');
    return {
      ok: false,
      unsupported: true,
      error: terminated ? `${NO_WORKLOAD_REPORTS}; the job was asked to terminate` : NO_WORKLOAD_REPORTS,
    };
  }
}

function describeReply(reply: Reply): string {
  return reply.type === 'refused' ? `refused (${reply.reason})` : `answered ${reply.type}`;
}
