// Wire types of the puppet control socket (docs/control-socket.md) and one runtime
// validator per direction. Validators return fresh objects holding only the spec's keys, in the
// spec's order, so a validated message re-encodes to the canonical JSON.

import { ValidationError, expectObject, expectString, isObject, isOneOf, oneOf } from '../validation.js';

// ---- puppet -> supervisor -------------------------------------------------------------------

// `jobid` is what late-2024 puppets ask instead of `jobinfo`; `extensions` is this project's
// capability request (see EXTENSIONS), which upstream supervisors refuse.
export const PUPPET_REQUEST_TYPES = [
  'ping',
  'jobinfo',
  'jobid',
  'sshkeys',
  'networkconfig',
  'parameters',
  'extensions',
] as const;
export type PuppetRequestType = (typeof PUPPET_REQUEST_TYPES)[number];
export interface PuppetReq {
  type: PuppetRequestType;
}

export const WORKLOAD_EXIT_STATUSES = ['success', 'error', 'unknown'] as const;
export type WorkloadExitStatus = (typeof WORKLOAD_EXIT_STATUSES)[number];

export type OutputStream = 'stdout' | 'stderr';

/**
 * The puppet events beyond upstream that a supervisor of this project takes. A puppet asks
 * `{"type":"extensions"}` once per connection; our supervisor answers
 * `{"type":"extensions","extensions":[...]}`, an upstream one refuses the request with
 * `{"message": ...}`, and then the puppet never sends it these events.
 */
export const EXTENSIONS = ['declareworkloadexitstatus', 'reportsubstate'] as const;
export type Extension = (typeof EXTENSIONS)[number];

export type PuppetEvent =
  | { type: 'ready' }
  | { type: 'shutdown'; supervisor_event_id: number | null }
  | { type: 'reboot'; supervisor_event_id: number | null }
  | { type: 'runcommanderror'; supervisor_event_id: number; error: string }
  | { type: 'runcommandoutput'; supervisor_event_id: number; output: number[]; stream: OutputStream }
  | { type: 'runcommandexitcode'; supervisor_event_id: number; exit_code: number | null; killed: boolean }
  | { type: 'terminatejob'; supervisor_event_id: number | null }
  // extension (this project)
  | { type: 'declareworkloadexitstatus'; workload_exit_status: WorkloadExitStatus; workload_output: string | null }
  | { type: 'reportsubstate'; substate: string };
export type PuppetEventType = PuppetEvent['type'];

export type PuppetMessage =
  { request_id: number; request: PuppetReq } | { puppet_event_id: number; event: PuppetEvent };

// ---- supervisor -> puppet -------------------------------------------------------------------

export interface IpConfig {
  address: string;
  prefix_length: number;
  gateway: string | null;
  nameservers: string[];
}

export type SupervisorResp =
  | { type: 'pingresp' }
  | { type: 'jobinfo'; job_id: string; host_id: string }
  // late-2024 answer to `jobid`
  | { type: 'jobid'; job_id: string }
  | { type: 'sshkeysresp'; ssh_keys: string[] }
  | { type: 'networkconfig'; hostname: string; interface: string | null; ipv4: IpConfig | null; ipv6: IpConfig | null }
  | { type: 'parameters'; parameters: Record<string, ParameterValue> }
  | { type: 'unsupportedrequest' }
  | { type: 'jobnotfound' }
  // extension (this project): the answer to `extensions`
  | { type: 'extensions'; extensions: string[] };
export type SupervisorRespType = SupervisorResp['type'];

export interface ParameterValue {
  value: string;
  secret: boolean;
}

export type SupervisorEvent =
  | { type: 'sshkeysupdated' }
  | { type: 'shutdownreq' }
  | { type: 'rebootreq' }
  | { type: 'runcommand'; cmdline: number[]; environment: Array<[number[], number[]]> }
  | { type: 'killcommand'; supervisor_event_id: number };
export type SupervisorEventType = SupervisorEvent['type'];

export type SupervisorMessage =
  | { request_id: number; response: SupervisorResp }
  | { supervisor_event_id: number; event: SupervisorEvent }
  | { message: string };

// ---- validation -----------------------------------------------------------------------------

/**
 * Why a decoded frame could not be used. `unknownType` marks a well-formed envelope whose inner
 * `type` this side does not know: the spec says to log and ignore those rather than treat them as
 * garbage. `requestId` is set whenever the envelope carried a valid request id, so a server can
 * still answer a request it could not understand.
 */
export class ControlMessageError extends ValidationError {
  override name = 'ControlMessageError';
  constructor(
    message: string,
    readonly unknownType: boolean,
    readonly requestId?: number,
  ) {
    super(message);
  }
}

/** A well-formed envelope with a `type` this side does not know. */
class UnknownTypeError extends ValidationError {}

type Obj = Record<string, unknown>;

function fail(message: string): never {
  throw new ValidationError(message);
}

function u64(v: unknown, what: string): number {
  // JSON numbers beyond 2^53 lose precision in JS; ids that large never occur in practice.
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) fail(`${what} must be a non-negative integer`);
  return v;
}

function u64OrNull(v: unknown, what: string): number | null {
  return v === null || v === undefined ? null : u64(v, what);
}

const str = expectString;

function strOrNull(v: unknown, what: string): string | null {
  return v === null || v === undefined ? null : str(v, what);
}

function bool(v: unknown, what: string): boolean {
  if (typeof v !== 'boolean') fail(`${what} must be a boolean`);
  return v;
}

function strArray(v: unknown, what: string): string[] {
  if (!Array.isArray(v)) fail(`${what} must be an array of strings`);
  for (const s of v) if (typeof s !== 'string') fail(`${what} must be an array of strings`);
  return v.slice() as string[];
}

export function isByteArray(v: unknown): v is number[] {
  if (!Array.isArray(v)) return false;
  for (let i = 0; i < v.length; i++) {
    const b = v[i];
    // (b & 255) === b rejects fractions, negatives, >255 and non-numbers in one step
    if (typeof b !== 'number' || (b & 255) !== b) return false;
  }
  return true;
}

function bytes(v: unknown, what: string): number[] {
  if (!isByteArray(v)) fail(`${what} must be an array of byte values (0-255)`);
  return v;
}

function i32OrNull(v: unknown, what: string): number | null {
  if (v === null || v === undefined) return null;
  if (typeof v !== 'number' || (v | 0) !== v) fail(`${what} must be a 32-bit integer or null`);
  return v;
}

function ipConfig(v: unknown, what: string): IpConfig | null {
  if (v === null || v === undefined) return null;
  const o = expectObject(v, what);
  const prefix = o['prefix_length'];
  if (typeof prefix !== 'number' || (prefix & 255) !== prefix) fail(`${what}.prefix_length must be 0-255`);
  return {
    address: str(o['address'], `${what}.address`),
    prefix_length: prefix,
    gateway: strOrNull(o['gateway'], `${what}.gateway`),
    nameservers: strArray(o['nameservers'], `${what}.nameservers`),
  };
}

/**
 * Shows a type name the peer sent, for an error or a log line. Protocol type names are short
 * lowercase words; anything else may be a misplaced value (a secret, even) and is not echoed.
 */
export function typeNameForLog(v: unknown): string {
  if (typeof v !== 'string')
    return v === undefined ? '(missing)' : `(a ${v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v})`;
  return /^[a-z][a-z0-9_]{0,39}$/.test(v) ? JSON.stringify(v) : `(${v.length} characters, not shown)`;
}

function typeOf(o: Obj, what: string): string {
  return str(o['type'], `${what}.type`);
}

function puppetRequest(v: unknown): PuppetReq {
  const o = expectObject(v, 'request');
  const type = typeOf(o, 'request');
  if (!isOneOf(type, PUPPET_REQUEST_TYPES)) throw new UnknownTypeError(`unknown request type ${typeNameForLog(type)}`);
  return { type };
}

function puppetEvent(v: unknown): PuppetEvent {
  const o = expectObject(v, 'event');
  const type = typeOf(o, 'event');
  const id = 'event.supervisor_event_id';
  switch (type) {
    case 'ready':
      return { type };
    case 'shutdown':
    case 'reboot':
    case 'terminatejob':
      return { type, supervisor_event_id: u64OrNull(o['supervisor_event_id'], id) };
    case 'runcommanderror':
      return { type, supervisor_event_id: u64(o['supervisor_event_id'], id), error: str(o['error'], 'event.error') };
    case 'runcommandoutput':
      return {
        type,
        supervisor_event_id: u64(o['supervisor_event_id'], id),
        output: bytes(o['output'], 'event.output'),
        stream: oneOf(o['stream'], ['stdout', 'stderr'] as const, 'event.stream'),
      };
    case 'runcommandexitcode':
      return {
        type,
        supervisor_event_id: u64(o['supervisor_event_id'], id),
        exit_code: i32OrNull(o['exit_code'], 'event.exit_code'),
        killed: bool(o['killed'], 'event.killed'),
      };
    case 'declareworkloadexitstatus':
      return {
        type,
        workload_exit_status: oneOf(o['workload_exit_status'], WORKLOAD_EXIT_STATUSES, 'event.workload_exit_status'),
        workload_output: strOrNull(o['workload_output'], 'event.workload_output'),
      };
    case 'reportsubstate':
      return { type, substate: str(o['substate'], 'event.substate') };
    default:
      throw new UnknownTypeError(`unknown event type ${typeNameForLog(type)}`);
  }
}

function supervisorResponse(v: unknown): SupervisorResp {
  const o = expectObject(v, 'response');
  const type = typeOf(o, 'response');
  switch (type) {
    case 'pingresp':
    case 'unsupportedrequest':
    case 'jobnotfound':
      return { type };
    case 'jobinfo':
      // a 2026 supervisor adds `gateway`, which this puppet does not use
      return { type, job_id: str(o['job_id'], 'response.job_id'), host_id: str(o['host_id'], 'response.host_id') };
    case 'jobid':
      return { type, job_id: str(o['job_id'], 'response.job_id') };
    case 'extensions':
      return { type, extensions: strArray(o['extensions'], 'response.extensions') };
    case 'sshkeysresp':
      return { type, ssh_keys: strArray(o['ssh_keys'], 'response.ssh_keys') };
    case 'networkconfig':
      return {
        type,
        hostname: str(o['hostname'], 'response.hostname'),
        interface: strOrNull(o['interface'], 'response.interface'),
        ipv4: ipConfig(o['ipv4'], 'response.ipv4'),
        ipv6: ipConfig(o['ipv6'], 'response.ipv6'),
      };
    case 'parameters': {
      const params = expectObject(o['parameters'], 'response.parameters');
      const out: Record<string, ParameterValue> = Object.create(null);
      for (const [name, pv] of Object.entries(params)) {
        const p = expectObject(pv, `parameter ${JSON.stringify(name)}`);
        out[name] = {
          value: str(p['value'], `parameter ${JSON.stringify(name)} value`),
          secret: bool(p['secret'], `parameter ${JSON.stringify(name)} secret`),
        };
      }
      return { type, parameters: out };
    }
    default:
      throw new UnknownTypeError(`unknown response type ${typeNameForLog(type)}`);
  }
}

function supervisorEvent(v: unknown): SupervisorEvent {
  const o = expectObject(v, 'event');
  const type = typeOf(o, 'event');
  switch (type) {
    case 'sshkeysupdated':
    case 'shutdownreq':
    case 'rebootreq':
      return { type };
    case 'runcommand': {
      const env = o['environment'];
      if (!Array.isArray(env)) fail('event.environment must be an array of [name, value] byte-array pairs');
      const environment: Array<[number[], number[]]> = env.map((pair: unknown) => {
        if (!Array.isArray(pair) || pair.length !== 2) fail('event.environment entries must be [name, value] pairs');
        return [bytes(pair[0], 'environment name'), bytes(pair[1], 'environment value')];
      });
      return { type, cmdline: bytes(o['cmdline'], 'event.cmdline'), environment };
    }
    case 'killcommand':
      return { type, supervisor_event_id: u64(o['supervisor_event_id'], 'event.supervisor_event_id') };
    default:
      throw new UnknownTypeError(`unknown event type ${typeNameForLog(type)}`);
  }
}

/** Runs a parse, giving its ValidationError the envelope's context. */
function inEnvelope<T>(requestId: number | undefined, parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    if (e instanceof ValidationError)
      throw new ControlMessageError(e.message, e instanceof UnknownTypeError, requestId);
    throw e;
  }
}

function validRequestId(o: Obj): number | undefined {
  const id = o['request_id'];
  return typeof id === 'number' && Number.isSafeInteger(id) && id >= 0 ? id : undefined;
}

/** Validates a decoded frame sent by a puppet; throws ControlMessageError. */
export function parsePuppetMessage(v: unknown): PuppetMessage {
  if (!isObject(v)) throw new ControlMessageError('message must be a JSON object', false);
  if ('request_id' in v) {
    return inEnvelope(validRequestId(v), () => ({
      request_id: u64(v['request_id'], 'request_id'),
      request: puppetRequest(v['request']),
    }));
  }
  if ('puppet_event_id' in v) {
    return inEnvelope(undefined, () => ({
      puppet_event_id: u64(v['puppet_event_id'], 'puppet_event_id'),
      event: puppetEvent(v['event']),
    }));
  }
  throw new ControlMessageError('message has neither "request_id" nor "puppet_event_id"', false);
}

/** Validates a decoded frame sent by a supervisor; throws ControlMessageError. */
export function parseSupervisorMessage(v: unknown): SupervisorMessage {
  if (!isObject(v)) throw new ControlMessageError('message must be a JSON object', false);
  if ('request_id' in v) {
    return inEnvelope(validRequestId(v), () => ({
      request_id: u64(v['request_id'], 'request_id'),
      response: supervisorResponse(v['response']),
    }));
  }
  if ('supervisor_event_id' in v) {
    return inEnvelope(undefined, () => ({
      supervisor_event_id: u64(v['supervisor_event_id'], 'supervisor_event_id'),
      event: supervisorEvent(v['event']),
    }));
  }
  if ('message' in v) return inEnvelope(undefined, () => ({ message: str(v['message'], 'message') }));
  throw new ControlMessageError('message has none of "request_id", "supervisor_event_id", "message"', false);
}

// ---- byte-array helpers ---------------------------------------------------------------------

/** Strings travel as UTF-8 byte arrays in `runcommand`. */
export function toByteArray(s: string | Uint8Array): number[] {
  return Array.from(typeof s === 'string' ? Buffer.from(s, 'utf8') : s);
}

export function fromByteArray(b: number[]): Buffer {
  return Buffer.from(b);
}
