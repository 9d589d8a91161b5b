// The job request `tml job enqueue` and `tml job run` send, built from their flags. Every key is
// present, as upstream's switchboard requires; the timeout goes as a duration string.

import { readFileSync, statSync } from 'node:fs';
import {
  MAX_PARAMETER_NAME_LENGTH,
  checkParameterFileNames,
  formatOverrideTimeout,
  parseParameters,
  type JobRequestBody,
  type Parameters,
} from '../protocol/job.js';
import { parseDuration } from '../protocol/duration.js';
import { UsageError } from '../protocol/cli.js';
import { ValidationError, isImageId, isObject } from '../protocol/validation.js';
import { SUPERVISOR_TAG_PREFIX } from './api-ext.js';
import { parseJsonText, typeName } from './json-text.js';

export interface EnqueueFlags {
  image: string;
  tagConfig?: string;
  /** A supervisor's name or id: the job runs there only (mq's `-s SYSTEM`). */
  supervisor?: string;
  parameters?: string;
  /** A file of parameters in the --parameters format, or `-` for stdin. */
  parametersFile?: string;
  sshKey?: string[];
  /** Keys from the configuration file (`ssh_keys`), sent with every job. */
  configSshKeys?: string[];
  /** The public half of tml's own SSH key, when the job is to carry it (for `tml job ssh`). */
  internalSshKey?: string | null;
  timeout?: string;
  restartCount?: number | string;
}

/** Largest --parameters-file read (the switchboard takes request bodies up to 1 MiB). */
export const MAX_PARAMETERS_FILE_BYTES = 1024 * 1024;

const PARAMETERS_FORMAT = 'a JSON object, e.g. \'{"name": {"value": "x", "secret": false}}\'';

/**
 * Parameters in the API's form, `{"name": {"value": "...", "secret": bool}}`, or the short form
 * `{"name": "value"}` for a non-secret one. Error messages name the flag, the parameter and the
 * type found, and never quote a value: they hold secrets.
 */
export function parseParameterText(text: string, flag: string): Parameters {
  const raw = parseJsonText(text, flag);
  if (!isObject(raw)) throw new UsageError(`${flag} must be ${PARAMETERS_FORMAT}, got ${typeName(raw)}`);
  const long: Record<string, unknown> = {};
  for (const [name, v] of Object.entries(raw)) {
    const where = `${flag}.${name.length > MAX_PARAMETER_NAME_LENGTH ? `${name.slice(0, 64)}...` : name}`;
    if (typeof v === 'string') {
      long[name] = { value: v, secret: false };
      continue;
    }
    if (!isObject(v)) {
      throw new UsageError(`${where} must be a string or {"value": "...", "secret": true|false}, got ${typeName(v)}`);
    }
    if (typeof v.value !== 'string') throw new UsageError(`${where}.value must be a string, got ${typeName(v.value)}`);
    if (typeof v.secret !== 'boolean') {
      throw new UsageError(`${where}.secret must be true or false, got ${typeName(v.secret)}`);
    }
    long[name] = v;
  }
  try {
    return parseParameters(long, flag);
  } catch (err) {
    if (err instanceof ValidationError) throw new UsageError(err.message);
    throw err;
  }
}

async function readStdin(limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of process.stdin) {
    size += (c as Buffer).length;
    if (size > limit) throw new UsageError(`--parameters-file -: stdin holds more than ${limit} bytes`);
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

async function readParametersFile(path: string): Promise<string> {
  if (path === '-') return (await readStdin(MAX_PARAMETERS_FILE_BYTES)).toString('utf8');
  try {
    if (statSync(path).size > MAX_PARAMETERS_FILE_BYTES) {
      throw new UsageError(`--parameters-file ${path}: larger than ${MAX_PARAMETERS_FILE_BYTES} bytes`);
    }
    return readFileSync(path, 'utf8');
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`--parameters-file ${path}: cannot read it (${(err as NodeJS.ErrnoException).code})`);
  }
}

/** --parameters and --parameters-file together; a name in both is refused rather than one silently winning. */
export async function parametersOf(flags: Pick<EnqueueFlags, 'parameters' | 'parametersFile'>): Promise<Parameters> {
  const fromFile =
    flags.parametersFile === undefined
      ? {}
      : parseParameterText(await readParametersFile(flags.parametersFile), '--parameters-file');
  const fromFlag = flags.parameters === undefined ? {} : parseParameterText(flags.parameters, '--parameters');
  for (const name of Object.keys(fromFlag)) {
    if (Object.hasOwn(fromFile, name)) {
      throw new UsageError(`parameter ${JSON.stringify(name)} is given by both --parameters and --parameters-file`);
    }
  }
  const all = { ...fromFile, ...fromFlag };
  try {
    checkParameterFileNames(all);
  } catch (err) {
    if (err instanceof ValidationError) throw new UsageError(err.message);
    throw err;
  }
  return all;
}

export function sshKeys(flags: string[] | undefined): string[] {
  const keys: string[] = [];
  for (const k of flags ?? []) {
    if (/^(ssh-|ecdsa-|sk-)/.test(k)) {
      keys.push(k.trim());
      continue;
    }
    // Anything else names a public key file (one key a line).
    let text: string;
    try {
      text = readFileSync(k, 'utf8');
    } catch (err) {
      throw new UsageError(
        `--ssh-key ${k}: not a key and not a readable file (${(err as NodeJS.ErrnoException).code})`,
      );
    }
    keys.push(
      ...text
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l !== '' && !l.startsWith('#')),
    );
  }
  return keys;
}

/** The job's tags: --tag-config, and the named-system tag of --supervisor. */
export function tagConfigOf(f: Pick<EnqueueFlags, 'tagConfig' | 'supervisor'>): string {
  const tags = (f.tagConfig ?? '')
    .split(';')
    .map((t) => t.trim())
    .filter((t) => t !== '');
  if (f.supervisor !== undefined) {
    const name = f.supervisor.trim();
    if (name === '' || name.includes(';')) {
      throw new UsageError(`--supervisor must be a supervisor's name or id without ";", got "${f.supervisor}"`);
    }
    tags.push(`${SUPERVISOR_TAG_PREFIX}${name}`);
  }
  return tags.join(';');
}

/** --restart-count as a number from 0 to 1000; the message shows what was given. */
export function restartCountOf(value: number | string | undefined): number {
  if (value === undefined) return 0;
  const n = typeof value === 'number' ? value : /^\s*\d+\s*$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(n) || n < 0 || n > 1000) {
    throw new UsageError(`--restart-count must be a whole number from 0 to 1000, got "${String(value)}"`);
  }
  return n;
}

export async function jobRequest(f: EnqueueFlags): Promise<JobRequestBody> {
  if (!isImageId(f.image)) throw new UsageError(`IMAGE_ID must be 64 lowercase hex digits, got "${f.image}"`);
  let override_timeout: string | null = null;
  if (f.timeout !== undefined) {
    try {
      override_timeout = formatOverrideTimeout(Math.max(1, Math.ceil(parseDuration(f.timeout) / 1000)));
    } catch (err) {
      throw new UsageError(`--timeout: ${(err as Error).message}`);
    }
  }
  const restarts = restartCountOf(f.restartCount);
  const tag_config = f.supervisor === undefined ? (f.tagConfig ?? '') : tagConfigOf(f);
  const keys = [...sshKeys(f.sshKey), ...(f.configSshKeys ?? [])];
  if (f.internalSshKey) keys.push(f.internalSshKey);
  return {
    init_spec: { type: 'image', image_id: f.image },
    // One of each: a key in the configuration and on the command line is sent once.
    ssh_keys: [...new Set(keys)],
    restart_policy: { remaining_restart_count: restarts },
    parameters: await parametersOf(f),
    tag_config,
    override_timeout,
  };
}
