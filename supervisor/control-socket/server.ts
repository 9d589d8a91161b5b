// The supervisor's half of the control socket: serves one job's context to its puppet.

import { EventEmitter } from 'node:events';
import net from 'node:net';
import { FrameDecoder, decodeFrameBody, encodeFrame } from '../../protocol/control-socket/framing.js';
import { decodeRunCommandOutput, type DecodedOutput } from '../../protocol/control-socket/output-codec.js';
import { attempt } from '../../protocol/validation.js';
import { silentLogger, type Logger } from '../../protocol/log.js';
import {
  ControlMessageError,
  EXTENSIONS,
  parsePuppetMessage,
  toByteArray,
  type IpConfig,
  type PuppetEvent,
  type PuppetReq,
  type SupervisorEvent,
  type SupervisorMessage,
  type SupervisorResp,
} from '../../protocol/control-socket/messages.js';

export interface NetworkConfig {
  hostname: string;
  interface: string | null;
  ipv4: IpConfig | null;
  ipv6: IpConfig | null;
}

export interface JobContext {
  jobId: string;
  hostId: string;
  sshKeys: string[];
  /** null => `networkconfig` is answered as upstream's QEMU supervisor does (see defaultNetworkConfig) */
  networkConfig: NetworkConfig | null;
  parameters: Record<string, { value: string; secret: boolean }>;
}

/**
 * What upstream's QEMU supervisor answers every `networkconfig` with: a hostname from the job id
 * and nothing else (the guest uses DHCP). An upstream puppet exits on `unsupportedrequest`.
 */
export function defaultNetworkConfig(jobId: string): NetworkConfig {
  return { hostname: `job-${jobId.slice(0, 10)}`, interface: null, ipv4: null, ipv6: null };
}

export interface ListenOptions {
  host?: string;
  port?: number;
  context: JobContext;
  log?: Logger;
}

/**
 * One command started with `runcommand`. Emits 'output' (chunk: Buffer, stream), then exactly one
 * of 'exit' (exitCode: number | null, killed: boolean) or 'error' (message: string).
 */
export interface CommandRun extends EventEmitter {
  readonly eventId: number;
  /** Sends `killcommand` for this command. */
  kill(): void;
}

class Command extends EventEmitter implements CommandRun {
  constructor(
    readonly eventId: number,
    private readonly server: ControlSocketServer,
  ) {
    super();
  }

  kill(): void {
    this.server.sendEvent({ type: 'killcommand', supervisor_event_id: this.eventId });
  }
}

/**
 * Listens on TCP for the job's puppet. Only one puppet connection is active at a time: a new
 * connection replaces the old one (a rebooted or reconnecting puppet). Events sent while no puppet
 * is connected are held and delivered, in order, when one connects.
 *
 * Emits 'connection' (), 'disconnect' (), 'puppet-event' (event, puppetEventId) for every puppet
 * event, and 'ready' () when the puppet sends `ready`.
 */
export class ControlSocketServer extends EventEmitter {
  readonly host: string;
  readonly port: number;
  #server: net.Server;
  #context: JobContext;
  #log: Logger;
  #socket: net.Socket | null = null;
  #nextEventId = 0;
  #held: Buffer[] = [];
  #commands = new Map<number, Command>();
  #sockets = new Set<net.Socket>();

  private constructor(server: net.Server, host: string, port: number, context: JobContext, log: Logger) {
    super();
    this.#server = server;
    this.host = host;
    this.port = port;
    this.#context = context;
    this.#log = log;
    server.on('connection', (socket) => this.#accept(socket));
  }

  static async listen(opts: ListenOptions): Promise<ControlSocketServer> {
    const server = net.createServer({ noDelay: true });
    const host = opts.host ?? '127.0.0.1';
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port ?? 0, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const address = server.address() as net.AddressInfo;
    return new ControlSocketServer(server, host, address.port, structuredClone(opts.context), opts.log ?? silentLogger);
  }

  get connected(): boolean {
    return this.#socket !== null;
  }

  updateContext(patch: Partial<JobContext>): void {
    this.#context = { ...this.#context, ...structuredClone(patch) };
  }

  /** Sends a supervisor event (held until a puppet is connected); returns its supervisor_event_id. */
  sendEvent(event: SupervisorEvent): number {
    const id = this.#nextEventId++;
    const frame = encodeFrame({ supervisor_event_id: id, event } satisfies SupervisorMessage);
    this.#log.debug(`control socket: sending event ${id} (${event.type})`);
    if (this.#socket) this.#socket.write(frame);
    else this.#held.push(frame);
    return id;
  }

  /** Starts a command on the host: `cmdline` is a program (path or PATH name) without arguments. */
  runCommand(cmdline: string, environment: Array<[string, string]> = []): CommandRun {
    const id = this.sendEvent({
      type: 'runcommand',
      cmdline: toByteArray(cmdline),
      environment: environment.map(([k, v]) => [toByteArray(k), toByteArray(v)]),
    });
    const command = new Command(id, this);
    this.#commands.set(id, command);
    return command;
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(socket: net.Socket): void {
    this.#sockets.add(socket);
    const previous = this.#socket;
    if (previous) {
      this.#log.warn('control socket: a new puppet connection replaces the current one');
      this.#drop(previous);
    }
    this.#socket = socket;
    this.#log.info(`control socket: puppet connected from ${socket.remoteAddress}:${socket.remotePort}`);
    const decoder = new FrameDecoder();
    socket.on('data', (chunk: Buffer) => {
      const { frames, error } = decoder.push(chunk);
      for (const frame of frames) {
        if (socket.destroyed) return;
        this.#handleFrame(socket, frame);
      }
      if (error !== null) {
        this.#log.warn(`control socket: protocol error, dropping connection: ${error}`);
        socket.destroy();
      }
    });
    socket.on('error', (err) => this.#log.debug(`control socket: connection error: ${err.message}`));
    socket.on('close', () => {
      this.#sockets.delete(socket);
      if (this.#socket === socket) this.#drop(socket);
    });
    this.emit('connection');
    const held = this.#held;
    this.#held = [];
    for (const frame of held) socket.write(frame);
  }

  #drop(socket: net.Socket): void {
    socket.destroy();
    if (this.#socket !== socket) return;
    this.#socket = null;
    this.#log.info('control socket: puppet disconnected');
    this.emit('disconnect');
  }

  #send(socket: net.Socket, message: SupervisorMessage): void {
    if (!socket.destroyed) socket.write(encodeFrame(message));
  }

  #handleFrame(socket: net.Socket, body: Buffer): void {
    const output = decodeRunCommandOutput(body);
    if (output) {
      this.#onOutput(output);
      return;
    }
    const json = attempt(() => decodeFrameBody(body));
    if (!json.ok) {
      this.#log.warn(`control socket: ${json.error.message}`);
      this.#send(socket, { message: json.error.message });
      return;
    }
    const parsed = attempt(() => parsePuppetMessage(json.value));
    if (!parsed.ok) {
      const { message } = parsed.error;
      const context = parsed.error instanceof ControlMessageError ? parsed.error : null;
      if (context?.requestId !== undefined) {
        // answering keeps a puppet that waits for this request from hanging
        this.#log.warn(`control socket: request ${context.requestId}: ${message}`);
        this.#send(socket, { request_id: context.requestId, response: { type: 'unsupportedrequest' } });
      } else if (context?.unknownType === true) {
        this.#log.warn(`control socket: ignoring ${message}`);
      } else {
        this.#log.warn(`control socket: invalid message: ${message}`);
        this.#send(socket, { message: `invalid message: ${message}` });
      }
      return;
    }
    const msg = parsed.value;
    if ('request' in msg) {
      this.#log.debug(`control socket: request ${msg.request_id} (${msg.request.type})`);
      this.#send(socket, { request_id: msg.request_id, response: this.#answer(msg.request) });
    } else {
      this.#onEvent(msg.event, msg.puppet_event_id);
    }
  }

  #answer(req: PuppetReq): SupervisorResp {
    const ctx = this.#context;
    switch (req.type) {
      case 'ping':
        return { type: 'pingresp' };
      case 'jobinfo':
        return { type: 'jobinfo', job_id: ctx.jobId, host_id: ctx.hostId };
      case 'jobid':
        // a late-2024 upstream puppet
        return { type: 'jobid', job_id: ctx.jobId };
      case 'extensions':
        // only a puppet that asked sees this answer: an upstream one would panic on it
        return { type: 'extensions', extensions: [...EXTENSIONS] };
      case 'sshkeys':
        return { type: 'sshkeysresp', ssh_keys: [...ctx.sshKeys] };
      case 'networkconfig': {
        const nc = ctx.networkConfig ?? defaultNetworkConfig(ctx.jobId);
        return { type: 'networkconfig', hostname: nc.hostname, interface: nc.interface, ipv4: nc.ipv4, ipv6: nc.ipv6 };
      }
      case 'parameters':
        return { type: 'parameters', parameters: structuredClone(ctx.parameters) };
    }
  }

  #onOutput(o: DecodedOutput): void {
    if (this.listenerCount('puppet-event') > 0) {
      const event = { type: 'runcommandoutput', supervisor_event_id: o.supervisorEventId } as Extract<
        PuppetEvent,
        { type: 'runcommandoutput' }
      >;
      // the array of numbers is built only if a listener looks at it
      let array: number[] | undefined;
      Object.defineProperty(event, 'output', { enumerable: true, get: () => (array ??= Array.from(o.output)) });
      Object.defineProperty(event, 'stream', { enumerable: true, value: o.stream });
      this.emit('puppet-event', event, o.puppetEventId);
    }
    this.#commands.get(o.supervisorEventId)?.emit('output', o.output, o.stream);
  }

  #onEvent(event: PuppetEvent, puppetEventId: number): void {
    if (event.type !== 'runcommandoutput') {
      this.#log.info(`control socket: puppet event ${puppetEventId}: ${describe(event)}`);
    }
    this.emit('puppet-event', event, puppetEventId);
    switch (event.type) {
      case 'ready':
        this.emit('ready');
        break;
      case 'runcommandoutput':
        this.#commands.get(event.supervisor_event_id)?.emit('output', Buffer.from(event.output), event.stream);
        break;
      case 'runcommandexitcode': {
        const command = this.#commands.get(event.supervisor_event_id);
        this.#commands.delete(event.supervisor_event_id);
        command?.emit('exit', event.exit_code, event.killed);
        break;
      }
      case 'runcommanderror': {
        const command = this.#commands.get(event.supervisor_event_id);
        this.#commands.delete(event.supervisor_event_id);
        // an 'error' event without listener would throw out of the socket handler
        if (command && command.listenerCount('error') > 0) command.emit('error', event.error);
        break;
      }
      default:
        break;
    }
  }
}

function describe(event: PuppetEvent): string {
  switch (event.type) {
    case 'declareworkloadexitstatus':
      return `workload finished: ${event.workload_exit_status}`;
    case 'reportsubstate':
      return `substate: ${JSON.stringify(event.substate)}`;
    case 'runcommandexitcode':
      return `command ${event.supervisor_event_id} exited (code ${event.exit_code}, killed ${event.killed})`;
    case 'runcommanderror':
      return `command ${event.supervisor_event_id} failed to start: ${event.error}`;
    default:
      return event.type;
  }
}
