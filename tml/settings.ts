// Which switchboard, which token, which keys: one resolution for every command, in one order.
//
//   switchboard URL: -u/--api-url (alias --switchboard) > TML_SWITCHBOARD_URL > the profile's
//                    [api] url > the file's [api] url > upstream's default
//   token:           TML_API_TOKEN > the profile's token file > token.json (from `tml login`)
//   profile:         --profile > TML_PROFILE > `profile = ` in the file > none
//
// resolveSettings is pure (tested without files); loadSettings reads the files it needs.

import { UsageError } from '../protocol/cli.js';
import { parseDuration } from '../protocol/duration.js';
import { loadConfig, type ConfigFile, type ProfileConfig } from './config-file.js';
import { checkProfileName, configCandidates, sessionPath, sshKeyPath, tokenPath, type Env } from './paths.js';
import { readTokenFile, tokenProblem } from './token-store.js';

/** Upstream's `tml` 0.3 default (config.rs). */
export const DEFAULT_SWITCHBOARD_URL = 'https://swb.treadmill.ci';

/** Global flags that bear on the settings. */
export interface SettingsFlags {
  apiUrl?: string;
  config?: string;
  profile?: string;
  connectTimeout?: string;
  requestTimeout?: string;
}

export interface Settings {
  url: string;
  /** Where the URL came from, for `whoami` and error messages. */
  urlSource: string;
  profile: string | null;
  configPath: string | null;
  tokenFile: string;
  sessionFile: string;
  sshKeyFile: string;
  /** Keys from the configuration, sent with every job. */
  sshKeys: string[];
  internalSshKey: boolean;
  connectTimeoutMs: number;
  requestTimeoutMs: number;
}

function checkUrl(url: string, source: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(`invalid switchboard URL "${url}" (from ${source})`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new UsageError(`switchboard URL "${url}" (from ${source}) must start with http:// or https://`);
  }
  return url;
}

function durationFlag(text: string | undefined, flag: string, fallback: number): number {
  if (text === undefined) return fallback;
  let ms: number;
  try {
    ms = parseDuration(text);
  } catch (err) {
    throw new UsageError(`${flag}: ${(err as Error).message}`);
  }
  if (ms < 1) throw new UsageError(`${flag} must be at least 1ms, got "${text}"`);
  return ms;
}

/** The profile asked for, and its settings; an unknown name is an error listing the known ones. */
function selectProfile(
  flags: SettingsFlags,
  env: Env,
  config: ConfigFile | null,
): { name: string | null; settings: ProfileConfig } {
  const [name, source] =
    flags.profile !== undefined
      ? [flags.profile, '--profile']
      : env.TML_PROFILE
        ? [env.TML_PROFILE, 'TML_PROFILE']
        : config?.defaultProfile !== undefined
          ? [config.defaultProfile, `profile in ${config.path}`]
          : [null, ''];
  if (name === null) return { name: null, settings: {} };
  checkProfileName(name, source);
  const settings = config?.profiles[name];
  if (!settings) {
    const known = Object.keys(config?.profiles ?? {});
    const where = config ? config.path : 'the configuration (there is no configuration file)';
    throw new UsageError(
      `${source}: no profile "${name}" in ${where}${known.length ? ` (profiles: ${known.join(', ')})` : ''}`,
    );
  }
  return { name, settings };
}

export function resolveSettings(flags: SettingsFlags, env: Env, config: ConfigFile | null): Settings {
  const profile = selectProfile(flags, env, config);
  const base = config?.base ?? {};
  const [url, urlSource] =
    flags.apiUrl !== undefined
      ? [flags.apiUrl, '--api-url']
      : env.TML_SWITCHBOARD_URL
        ? [env.TML_SWITCHBOARD_URL, 'TML_SWITCHBOARD_URL']
        : profile.settings.url !== undefined
          ? [profile.settings.url, `profile ${profile.name} in ${config!.path}`]
          : base.url !== undefined
            ? [base.url, config!.path]
            : [DEFAULT_SWITCHBOARD_URL, "upstream's default"];
  return {
    url: checkUrl(url, urlSource),
    urlSource,
    profile: profile.name,
    configPath: config?.path ?? null,
    tokenFile: tokenPath(env, profile.name),
    sessionFile: sessionPath(env, profile.name),
    sshKeyFile: sshKeyPath(env),
    sshKeys: profile.settings.sshKeys ?? base.sshKeys ?? [],
    internalSshKey: profile.settings.internalSshKey ?? base.internalSshKey ?? false,
    connectTimeoutMs: durationFlag(flags.connectTimeout, '--connect-timeout', 10_000),
    requestTimeoutMs: durationFlag(flags.requestTimeout, '--request-timeout', 30_000),
  };
}

export async function loadSettings(
  flags: SettingsFlags,
  env: Env,
): Promise<{ settings: Settings; config: ConfigFile | null }> {
  const config = await loadConfig(flags.config ?? null, configCandidates(env));
  return { settings: resolveSettings(flags, env, config), config };
}

export interface TokenChoice {
  token: string;
  /** `TML_API_TOKEN` or the token file's path. */
  source: string;
}

/** The API token: TML_API_TOKEN, else the token file; neither is a usage error saying what to do. */
export function resolveToken(settings: Settings, env: Env): TokenChoice {
  const fromEnv = env.TML_API_TOKEN;
  if (fromEnv) {
    const problem = tokenProblem(fromEnv);
    if (problem) throw new UsageError(`TML_API_TOKEN ${problem}`);
    return { token: fromEnv, source: 'TML_API_TOKEN' };
  }
  const fromFile = readTokenFile(settings.tokenFile);
  if (fromFile !== null) return { token: fromFile, source: settings.tokenFile };
  const login = settings.profile === null ? 'tml login' : `tml --profile ${settings.profile} login`;
  throw new UsageError(`no API token: set TML_API_TOKEN or run ${login} (no ${settings.tokenFile})`);
}
