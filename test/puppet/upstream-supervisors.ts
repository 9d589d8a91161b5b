// Stand-ins for the upstream supervisors deployed today, one per generation, written from the
// facts in docs/control-socket.md ("The peers in the field") and upstream's
// treadmill-rs types, not from this project's encoder, validators or server: a bug shared by our
// puppet and our server must not hide here. Each one frames by hand, parses by hand, answers
// what its generation knows, and refuses everything else as serde does, with a `{"message"}`
// frame that carries no request id. Like upstream, it never sends a supervisor event.

import type { ExecutionContext } from 'ava';
import net from 'node:net';

export type Generation = 'late-2024' | '2025' | '2026';
export const GENERATIONS: readonly Generation[] = ['late-2024', '2025', '2026'];

const REQUESTS: Record<Generation, readonly string[]> = {
  'late-2024': ['ping', 'jobid', 'sshkeys', 'networkconfig', 'parameters'],
  '2025': ['ping', 'jobinfo', 'sshkeys', 'networkconfig', 'parameters'],
  '2026': ['ping', 'jobinfo', 'networkconfig', 'parameters'],
};
const UPSTREAM_EVENTS = [
  'ready',
  'shutdown',
  'reboot',
  'runcommanderror',
  'runcommandoutput',
  'runcommandexitcode',
  'terminatejob',
];
const EVENTS: Record<Generation, readonly string[]> = {
  'late-2024': UPSTREAM_EVENTS,
  '2025': UPSTREAM_EVENTS,
  '2026': [...UPSTREAM_EVENTS, 'jobserviceset'],
};

/**
 * What upstream's control-socket server sends for a frame serde cannot parse: the Debug form of
 * serde_json's error. PuppetMsg is an untagged enum, so an unknown request or event type reads so.
 */
export const UNTAGGED_REFUSAL =
  'Error("data did not match any variant of untagged enum PuppetMsg", line: 0, column: 0)';

export interface UpstreamJob {
  jobId: string;
  hostId: string;
  sshKeys: string[];
  parameters: Record<string, { value: string; secret: boolean }>;
}

export interface UpstreamSupervisor {
  port: number;
  generation: Generation;
  /** every frame the puppet sent, parsed as JSON */
  received: Array<Record<string, unknown>>;
  /** the frames of those it refused */
  refused: Array<Record<string, unknown>>;
  eventsOf: (type: string) => Array<Record<string, unknown>>;
  requestsOf: (type: string) => number;
}

function frame(value: unknown): Buffer {
  const body = Buffer.from(JSON.stringify(value), 'utf8');
  const header = Buffer.alloc(4);
  header.writeUInt32BE(body.length);
  return Buffer.concat([header, body]);
}

function typeOf(v: unknown): string | undefined {
  return typeof v === 'object' && v !== null && typeof (v as { type?: unknown }).type === 'string'
    ? (v as { type: string }).type
    : undefined;
}

/** The QEMU supervisor's answers, from its handle_request (treadmill-rs control_socket.rs). */
function answer(generation: Generation, type: string, job: UpstreamJob): unknown {
  switch (type) {
    case 'ping':
      return { type: 'pingresp' };
    case 'jobid':
      return { type: 'jobid', job_id: job.jobId };
    case 'jobinfo':
      return generation === '2026'
        ? { type: 'jobinfo', job_id: job.jobId, host_id: job.hostId, gateway: null }
        : { type: 'jobinfo', job_id: job.jobId, host_id: job.hostId };
    case 'sshkeys':
      return { type: 'sshkeysresp', ssh_keys: job.sshKeys };
    case 'networkconfig':
      return {
        type: 'networkconfig',
        hostname: `job-${job.jobId.slice(0, 10)}`,
        interface: null,
        ipv4: null,
        ipv6: null,
      };
    case 'parameters':
      return { type: 'parameters', parameters: job.parameters };
    default:
      throw new Error(`no answer for ${type}`);
  }
}

export interface UpstreamOptions {
  /** request types this supervisor reads but never answers, known or not (to exercise the puppet's time-out) */
  silentOn?: string[];
  /** the text of its refusals; upstream's untagged-enum error by default */
  refusal?: (what: string) => string;
  /** request types it refuses although its generation knows them */
  refuses?: string[];
  /** request types answered with `jobnotfound`, as upstream does for a job it does not hold running */
  jobNotFound?: string[];
  /** listen on this port (e.g. to take over from another supervisor); any free one by default */
  port?: number;
}

export async function upstreamSupervisor(
  t: ExecutionContext,
  generation: Generation,
  job: UpstreamJob,
  opts: UpstreamOptions = {},
): Promise<UpstreamSupervisor> {
  const received: Array<Record<string, unknown>> = [];
  const refused: Array<Record<string, unknown>> = [];
  const sockets = new Set<net.Socket>();
  const refusal = opts.refusal ?? (() => UNTAGGED_REFUSAL);
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      while (buffer.length >= 4 && buffer.length >= 4 + buffer.readUInt32BE(0)) {
        const length = buffer.readUInt32BE(0);
        const body = buffer.subarray(4, 4 + length).toString('utf8');
        buffer = buffer.subarray(4 + length);
        let msg: Record<string, unknown>;
        try {
          msg = JSON.parse(body) as Record<string, unknown>;
        } catch {
          socket.write(frame({ message: 'Error("expected value", line: 1, column: 1)' }));
          continue;
        }
        received.push(msg);
        const request = typeOf(msg['request']);
        const event = typeOf(msg['event']);
        if (request !== undefined && opts.silentOn?.includes(request)) continue;
        const known =
          request !== undefined && REQUESTS[generation].includes(request) && !opts.refuses?.includes(request);
        if (typeof msg['request_id'] === 'number' && request !== undefined && known) {
          const response = opts.jobNotFound?.includes(request)
            ? { type: 'jobnotfound' }
            : answer(generation, request, job);
          socket.write(frame({ request_id: msg['request_id'], response }));
        } else if (
          typeof msg['puppet_event_id'] === 'number' &&
          event !== undefined &&
          EVENTS[generation].includes(event)
        ) {
          // handled; upstream answers no event
        } else {
          refused.push(msg);
          socket.write(frame({ message: refusal(request ?? event ?? 'frame') }));
        }
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, '127.0.0.1', resolve));
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  const eventsOf = (type: string) =>
    received.flatMap((m) => (typeOf(m['event']) === type ? [m['event'] as Record<string, unknown>] : []));
  return {
    port: (server.address() as net.AddressInfo).port,
    generation,
    received,
    refused,
    eventsOf,
    requestsOf: (type) => received.filter((m) => typeOf(m['request']) === type).length,
  };
}
