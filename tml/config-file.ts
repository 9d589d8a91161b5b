// The configuration file, config.toml, with upstream's keys (`[api] url`, `ssh_keys`) and, as our
// extension, named profiles and `internal_ssh_key`. A file written for upstream's `tml` reads the
// same here; upstream's ignores our extra keys.
//
//     ssh_keys = ["ssh-ed25519 AAAA... me@laptop"]   # sent with every job
//     internal_ssh_key = true                        # extension: add tml's own key (for job ssh)
//     profile = "lab"                                # extension: the profile used by default
//     [api]
//     url = "https://swb.treadmill.ci"
//     [profiles.lab.api]                             # extension: `tml --profile lab ...`
//     url = "http://lab.example.org:8080"

import { readFileSync } from 'node:fs';
import { UsageError } from '../protocol/cli.js';
import { isObject } from '../protocol/validation.js';
import { typeName } from './json-text.js';
import { checkProfileName } from './paths.js';

/** Settings a configuration (its top level, or one profile) may give. */
export interface ProfileConfig {
  url?: string;
  sshKeys?: string[];
  internalSshKey?: boolean;
}

export interface ConfigFile {
  path: string;
  base: ProfileConfig;
  profiles: Record<string, ProfileConfig>;
  /** `profile = "NAME"`: the profile used when none is asked for. */
  defaultProfile?: string;
  /** Keys this version does not know (ignored, as upstream ignores them). */
  unknownKeys: string[];
}

/** A configuration file that cannot be used; `context` is the parser's lines with a caret. */
export class ConfigError extends UsageError {
  override name = 'ConfigError';
  constructor(
    message: string,
    readonly context: string | null = null,
  ) {
    super(message);
  }
}

const SETTING_KEYS = ['api', 'ssh_keys', 'internal_ssh_key'];

function parseSettings(doc: Record<string, unknown>, where: string, unknown: string[], path: string): ProfileConfig {
  const out: ProfileConfig = {};
  const bad = (key: string, want: string, v: unknown) =>
    new ConfigError(`${path}: ${where}${key} must be ${want}, got ${typeName(v)}`);
  if (doc.api !== undefined) {
    if (!isObject(doc.api)) throw bad('api', 'a table ([api])', doc.api);
    for (const [k, v] of Object.entries(doc.api)) {
      if (k !== 'url') {
        unknown.push(`${where}api.${k}`);
        continue;
      }
      if (typeof v !== 'string') throw bad('api.url', 'a string', v);
      out.url = v;
    }
  }
  if (doc.ssh_keys !== undefined) {
    const v = doc.ssh_keys;
    if (!Array.isArray(v)) throw bad('ssh_keys', 'an array of strings', v);
    out.sshKeys = v.map((k, i) => {
      if (typeof k !== 'string') throw bad(`ssh_keys[${i}]`, 'a string', k);
      if (k.trim() === '' || /[\r\n]/.test(k)) {
        throw new ConfigError(`${path}: ${where}ssh_keys[${i}] must be one non-empty line`);
      }
      return k.trim();
    });
  }
  if (doc.internal_ssh_key !== undefined) {
    if (typeof doc.internal_ssh_key !== 'boolean') throw bad('internal_ssh_key', 'true or false', doc.internal_ssh_key);
    out.internalSshKey = doc.internal_ssh_key;
  }
  return out;
}

function asConfigError<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof UsageError && !(err instanceof ConfigError)) throw new ConfigError(err.message);
    throw err;
  }
}

/** A parsed TOML document as a configuration; throws ConfigError naming the key and the type found. */
export function parseConfig(doc: Record<string, unknown>, path: string): ConfigFile {
  const unknownKeys: string[] = [];
  const base = parseSettings(doc, '', unknownKeys, path);
  const profiles: Record<string, ProfileConfig> = {};
  if (doc.profiles !== undefined) {
    if (!isObject(doc.profiles)) {
      throw new ConfigError(`${path}: profiles must be a table ([profiles.NAME]), got ${typeName(doc.profiles)}`);
    }
    for (const [name, p] of Object.entries(doc.profiles)) {
      asConfigError(() => checkProfileName(name, `${path}: [profiles.${name}]`));
      if (!isObject(p)) throw new ConfigError(`${path}: profiles.${name} must be a table, got ${typeName(p)}`);
      for (const k of Object.keys(p)) if (!SETTING_KEYS.includes(k)) unknownKeys.push(`profiles.${name}.${k}`);
      profiles[name] = parseSettings(p, `profiles.${name}.`, unknownKeys, path);
    }
  }
  let defaultProfile: string | undefined;
  if (doc.profile !== undefined) {
    if (typeof doc.profile !== 'string') {
      throw new ConfigError(`${path}: profile must be a string, got ${typeName(doc.profile)}`);
    }
    const name = doc.profile;
    defaultProfile = asConfigError(() => checkProfileName(name, `${path}: profile`));
  }
  for (const k of Object.keys(doc)) if (![...SETTING_KEYS, 'profiles', 'profile'].includes(k)) unknownKeys.push(k);
  return { path, base, profiles, defaultProfile, unknownKeys };
}

/** TOML text as a configuration; a syntax error names the line and column and keeps the caret. */
export async function parseConfigText(text: string, path: string): Promise<ConfigFile> {
  const { parse, TomlError } = await import('smol-toml');
  let doc: Record<string, unknown>;
  try {
    doc = parse(text);
  } catch (err) {
    if (!(err instanceof TomlError)) throw err;
    const reason = err.message.split('\n')[0]!.replace(/^Invalid TOML document: /, '');
    throw new ConfigError(
      `${path}: line ${err.line}, column ${err.column}: invalid TOML: ${reason}`,
      err.codeblock.replace(/\n+$/, ''),
    );
  }
  return parseConfig(doc, path);
}

/**
 * Reads the configuration: `explicit` (from -c) must exist; otherwise the first of `candidates`
 * that exists is read, and none is fine. Unlike upstream's, a missing file is not created.
 */
export async function loadConfig(explicit: string | null, candidates: string[]): Promise<ConfigFile | null> {
  for (const path of explicit === null ? candidates : [explicit]) {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (explicit === null && (code === 'ENOENT' || code === 'ENOTDIR')) continue;
      throw new ConfigError(`configuration file ${path}: cannot read it (${code ?? String(err)})`);
    }
    return parseConfigText(text, path);
  }
  return null;
}
