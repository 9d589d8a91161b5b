// What a command gets from the global flags: its settings, a client with its token, and where to
// print. Results go to stdout (with --json, the JSON alone); notes and progress go to stderr.

import { ExitWith, UsageError } from '../protocol/cli.js';
import { isUuid } from '../protocol/validation.js';
import { SwitchboardClient } from './client.js';
import { ApiError, describeApiError } from './errors.js';
import { EXIT_CODES } from './outcome.js';
import type { OutputMode } from './format.js';
import type { Env } from './paths.js';
import { loadSettings, resolveToken, type Settings, type TokenChoice } from './settings.js';

/** The parsed command line (yargs' argv, option names as typed: `tag-config`, not `tagConfig`). */
export type Args = Record<string, unknown>;

export function str(argv: Args, name: string): string | undefined {
  const v = argv[name];
  if (v === undefined) return undefined;
  // A flag given twice arrives as an array: the last one counts, as in most CLIs.
  const last = Array.isArray(v) ? v.at(-1) : v;
  return last === undefined ? undefined : String(last);
}

export function strs(argv: Args, name: string): string[] | undefined {
  const v = argv[name];
  if (v === undefined) return undefined;
  return (Array.isArray(v) ? v : [v]).map(String);
}

export function bool(argv: Args, name: string): boolean {
  return argv[name] === true;
}

export function out(text: string): void {
  process.stdout.write(text);
}

export function note(line: string): void {
  process.stderr.write(`${line}\n`);
}

export interface Ctx {
  settings: Settings;
  env: Env;
  json: boolean;
  verbose: boolean;
  /** A client without a token (login). */
  anonymous(): SwitchboardClient;
  /** The token to use; a usage error saying how to get one when there is none. */
  token(): TokenChoice;
  /** A client with the token. */
  client(): SwitchboardClient;
}

export async function context(argv: Args, env: Env = process.env): Promise<Ctx> {
  const { settings, config } = await loadSettings(
    {
      apiUrl: str(argv, 'api-url'),
      config: str(argv, 'config'),
      profile: str(argv, 'profile'),
      connectTimeout: str(argv, 'connect-timeout'),
      requestTimeout: str(argv, 'request-timeout'),
    },
    env,
  );
  const verbose = bool(argv, 'verbose');
  if (config && config.unknownKeys.length) {
    note(`tml: ${config.path}: unknown keys ignored: ${config.unknownKeys.join(', ')}`);
  }
  if (verbose) {
    note(
      `tml: switchboard ${settings.url} (from ${settings.urlSource})${settings.profile ? `, profile ${settings.profile}` : ''}`,
    );
  }
  const options = { connectTimeoutMs: settings.connectTimeoutMs, requestTimeoutMs: settings.requestTimeoutMs };
  let token: TokenChoice | null = null;
  const ctx: Ctx = {
    settings,
    env,
    json: bool(argv, 'json'),
    verbose,
    anonymous: () => new SwitchboardClient(settings.url, null, options),
    token: () => (token ??= resolveToken(settings, env)),
    client: () => new SwitchboardClient(settings.url, ctx.token().token, options),
  };
  return ctx;
}

/** table, tsv or json, from --json and --tsv. */
export function outputMode(argv: Args): OutputMode {
  if (bool(argv, 'json') && bool(argv, 'tsv')) throw new UsageError('--json and --tsv exclude each other');
  return bool(argv, 'json') ? 'json' : bool(argv, 'tsv') ? 'tsv' : 'table';
}

export function uuidArg(id: unknown, what: string): string {
  if (!isUuid(id)) throw new UsageError(`${what} id must be a UUID, got "${String(id)}"`);
  return id;
}

/** A failure as one line: a refused request by its type, anything else by its message. */
export function failureText(err: unknown): string {
  if (err instanceof ApiError) return describeApiError(err);
  return err instanceof Error ? err.message : String(err);
}

/**
 * For `wait` and `run`, whose exit codes are outcomes (1 is WorkloadFinishedError): a failed
 * request exits 12 instead of 1. Usage errors and outcome exits pass through.
 */
export async function asOutcomeCommand<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof ExitWith || err instanceof UsageError) throw err;
    throw new ExitWith(EXIT_CODES.request_failed, failureText(err));
  }
}
