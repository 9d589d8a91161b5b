// The job request `tml job enqueue` and `tml job run` send, built from their flags. Every key is
// present, as upstream's switchboard requires; the timeout goes as a duration string.

import { readFileSync, statSync } from 'node:fs';
import {
  checkParameterFileNames,
  formatOverrideTimeout,
  parseParameters,
  type JobRequestBody,
  type Parameters,
} from '../protocol/job.js';
import { parseDuration } from '../protocol/duration.js';
import { ValidationError, isImageId } from '../protocol/validation.js';

/** A flag or its input is wrong; the message names the flag. */
export class UsageError extends Error {}

export interface EnqueueFlags {
  image: string;
  tagConfig?: string;
  parameters?: string;
  /** A file of parameters in the --parameters format, or `-` for stdin. */
  parametersFile?: string;
  sshKey?: string[];
  timeout?: string;
  restartCount?: number;
}

/** Largest --parameters-file read (the switchboard takes request bodies up to 1 MiB). */
export const MAX_PARAMETERS_FILE_BYTES = 1024 * 1024;

const PARAMETERS_FORMAT = 'a JSON object, e.g. \'{"name": {"value": "x", "secret": false}}\'';

/**
 * Parameters in the API's form, `{"name": {"value": "...", "secret": bool}}`, or the short form
 * `{"name": "value"}` for a non-secret one. Error messages never quote the text: it holds secrets.
 */
export function parseParameterText(text: string, flag: string): Parameters {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new UsageError(`${flag} must be ${PARAMETERS_FORMAT}`);
  }
  if (raw && typeof raw === 'object' && !Array.isArray(raw)) {
    for (const [k, v] of Object.entries(raw))
      if (typeof v === 'string') (raw as Record<string, unknown>)[k] = { value: v, secret: false };
  }
  try {
    return parseParameters(raw, flag);
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
  const restarts = f.restartCount ?? 0;
  if (!Number.isInteger(restarts) || restarts < 0 || restarts > 1000) {
    throw new UsageError(`--restart-count must be a whole number from 0 to 1000, got ${String(f.restartCount)}`);
  }
  return {
    init_spec: { type: 'image', image_id: f.image },
    ssh_keys: sshKeys(f.sshKey),
    restart_policy: { remaining_restart_count: restarts },
    parameters: await parametersOf(f),
    tag_config: f.tagConfig ?? '',
    override_timeout,
  };
}
