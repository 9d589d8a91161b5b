// The supervisor's configuration file: upstream's supervisor TOML, so an operator can swap the
// binary and keep the file. `[base]`, `[ws_connector]` and `[image_store]` are read here (unknown
// keys in them are refused, so typos surface); a host backend's section (`[qemu]`, ...) is handed
// as it is to that backend's own parser; any other section is ignored with a note.

import { readFile } from 'node:fs/promises';
import { parse as parseToml } from 'smol-toml';
import { canonicalSupervisorToken } from '../protocol/switchboard-ws.js';
import { isOneOf, isUuid } from '../protocol/validation.js';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export type ConfigTable = Record<string, unknown>;

export interface SupervisorConfig {
  /** `[base] supervisor_id`, lower case. */
  supervisorId?: string;
  /**
   * `[ws_connector] switchboard_uri` (upstream writes ws:// or wss://): one string as upstream's, or
   * an array of them (replicas of one switchboard, tried in turn).
   */
  switchboardUrls?: string[];
  /** `[ws_connector] token`, or the content of `token_file`: padded standard base64 of 128 bytes. */
  token?: string;
  /** `[image_store] fs_endpoint`: the local image store. */
  storeDir?: string;
  /** `[image_store] http_endpoint`: a mirror to pull missing images from (as --image-mirror). */
  imageMirror?: string;
  /** Sections of host backends, by name, for the backend's own parser (e.g. `qemu`). */
  hostSections: Record<string, ConfigTable>;
  /** One line for each section or key that is read but has no effect here. */
  notes: string[];
}

// Upstream's other connectors and supervisors; their sections are someone else's.
const CONNECTORS = ['ws_connector', 'rest_sse_connector', 'cli_connector'] as const;

function table(value: unknown, where: string): ConfigTable {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Date) {
    throw new ConfigError(`${where} must be a table`);
  }
  return value as ConfigTable;
}

function onlyKeys(t: ConfigTable, allowed: readonly string[], where: string): void {
  for (const key of Object.keys(t)) {
    if (!allowed.includes(key)) {
      throw new ConfigError(`${where} has unknown key "${key}" (known: ${allowed.join(', ')})`);
    }
  }
}

function str(t: ConfigTable, key: string, where: string): string | undefined {
  const v = t[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v === '') throw new ConfigError(`${where}.${key} must be a non-empty string`);
  return v;
}

/** A non-empty string, or a non-empty array of them. */
function strings(t: ConfigTable, key: string, where: string): string[] | undefined {
  const v = t[key];
  if (v === undefined) return undefined;
  const list: unknown[] = Array.isArray(v) ? v : [v];
  if (list.length === 0 || !list.every((s) => typeof s === 'string' && s !== '')) {
    throw new ConfigError(`${where}.${key} must be a non-empty string or a non-empty array of them`);
  }
  return list as string[];
}

/** A token as upstream's connector reads `token_file`: whitespace around it is dropped. */
export function tokenFromText(text: string, where: string): string {
  const token = canonicalSupervisorToken(text);
  if (token === null) throw new ConfigError(`${where} is not a supervisor token (standard base64 of 128 bytes)`);
  return token;
}

export async function readTokenFile(path: string, where: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`${where}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  return tokenFromText(text, `${where} (${path})`);
}

/**
 * Parses the file's text. `hostSections` names the sections host backends read; `readToken`
 * reads a `token_file` (relative paths are the working directory's, as upstream's are).
 */
export async function parseSupervisorConfig(
  text: string,
  file: string,
  hostSections: readonly string[],
  readToken: (path: string, where: string) => Promise<string> = readTokenFile,
): Promise<SupervisorConfig> {
  let doc: ConfigTable;
  try {
    doc = parseToml(text) as ConfigTable;
  } catch (err) {
    const first = ((err as Error).message.split('\n')[0] ?? '').trim();
    throw new ConfigError(`${file} is not valid TOML: ${first}`);
  }
  const config: SupervisorConfig = { hostSections: {}, notes: [] };

  for (const [name, value] of Object.entries(doc)) {
    if (name === 'base' || name === 'ws_connector' || name === 'image_store') continue;
    if (hostSections.includes(name)) {
      config.hostSections[name] = table(value, `[${name}]`);
    } else {
      config.notes.push(`${file}: [${name}] is not used by tml-supervisor; ignored`);
    }
  }

  if (doc.base !== undefined) {
    const base = table(doc.base, '[base]');
    onlyKeys(base, ['supervisor_id', 'coord_connector'], '[base]');
    const id = str(base, 'supervisor_id', '[base]')?.toLowerCase();
    if (id !== undefined && !isUuid(id)) throw new ConfigError(`[base].supervisor_id must be a UUID`);
    config.supervisorId = id;
    const connector = str(base, 'coord_connector', '[base]');
    if (connector !== undefined && connector !== 'ws_connector') {
      const known = isOneOf(connector, CONNECTORS);
      throw new ConfigError(
        `[base].coord_connector = "${connector}"${known ? ' is not supported by tml-supervisor' : ' is unknown'}; use "ws_connector"`,
      );
    }
  }

  if (doc.ws_connector !== undefined) {
    const ws = table(doc.ws_connector, '[ws_connector]');
    onlyKeys(ws, ['switchboard_uri', 'token', 'token_file'], '[ws_connector]');
    config.switchboardUrls = strings(ws, 'switchboard_uri', '[ws_connector]');
    const tokenFile = str(ws, 'token_file', '[ws_connector]');
    const token = str(ws, 'token', '[ws_connector]');
    // Upstream's connector takes token_file when both are there.
    if (tokenFile !== undefined) {
      if (token !== undefined) config.notes.push(`${file}: [ws_connector] token is ignored: token_file is used`);
      config.token = await readToken(tokenFile, '[ws_connector].token_file');
    } else if (token !== undefined) {
      config.token = tokenFromText(token, '[ws_connector].token');
    }
  }

  if (doc.image_store !== undefined) {
    const store = table(doc.image_store, '[image_store]');
    onlyKeys(store, ['fs_endpoint', 'http_endpoint'], '[image_store]');
    config.storeDir = str(store, 'fs_endpoint', '[image_store]');
    const mirror = str(store, 'http_endpoint', '[image_store]');
    if (mirror !== undefined) config.imageMirror = mirror;
  }
  return config;
}

export async function loadSupervisorConfig(path: string, hostSections: readonly string[]): Promise<SupervisorConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  return parseSupervisorConfig(text, path, hostSections);
}
