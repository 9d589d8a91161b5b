// Files the puppet maintains for the job (spec: "What the puppet does with the answers").

import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { ParameterValue } from '../protocol/control-socket/messages.js';

/**
 * The file name for a parameter: every character that is not ASCII alphanumeric, space, `-` or
 * `_` removed, cut to 128 characters. Dots and slashes go, so no name can leave the directory.
 */
export function sanitizeParameterName(name: string): string {
  return name.replace(/[^A-Za-z0-9 _-]/g, '').slice(0, 128);
}

/** Writes via a temporary file in the same directory and a rename: readers see old or new, whole. */
let tmpCounter = 0;

export async function writeFileAtomic(file: string, data: string | Uint8Array, mode: number): Promise<void> {
  const dir = path.dirname(file);
  // A leading dot keeps temporaries out of the parameter namespace (sanitized names have no
  // dots); pid and counter make them unique, and 'wx' refuses to reuse a leftover one.
  let tmp = '';
  let handle: fs.FileHandle | undefined;
  while (!handle) {
    tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${tmpCounter++}.tmp`);
    try {
      handle = await fs.open(tmp, 'wx', mode);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
  try {
    await handle.chmod(mode); // the umask must not weaken or strengthen the intended mode
    // no fsync: these files live on tmpfs (/run) and are rewritten at every start, so the
    // rename's atomicity is what readers need, not durability across a crash
    await handle.writeFile(data);
  } catch (e) {
    await handle.close();
    await fs.rm(tmp, { force: true });
    throw e;
  }
  await handle.close();
  try {
    await fs.rename(tmp, file);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw e;
  }
}

export interface ParameterWriteResult {
  written: string[];
  removed: string[];
  /** parameter names whose file name sanitized to nothing */
  skipped: string[];
  /** parameter names that sanitized to a file name another parameter already used */
  collisions: string[];
}

/**
 * Keeps a parameters directory equal to the latest set the supervisor sent. The directory is
 * dedicated to parameters, so the first write of a daemon run also removes regular files an
 * earlier run left behind (old parameters, temporaries of a crashed write); later writes remove
 * only files this instance wrote. Symbolic links and directories in it are never touched.
 */
export class ParameterFiles {
  #current = new Set<string>();
  #swept = false;

  constructor(readonly dir: string) {}

  async write(parameters: Record<string, ParameterValue>): Promise<ParameterWriteResult> {
    await fs.mkdir(this.dir, { recursive: true, mode: 0o755 });
    const result: ParameterWriteResult = { written: [], removed: [], skipped: [], collisions: [] };
    const next = new Set<string>();
    for (const name of Object.keys(parameters).sort()) {
      const file = sanitizeParameterName(name);
      if (file === '') {
        result.skipped.push(name);
        continue;
      }
      if (next.has(file)) result.collisions.push(name);
      const p = parameters[name]!;
      await writeFileAtomic(path.join(this.dir, file), p.value, p.secret ? 0o600 : 0o644);
      next.add(file);
      result.written.push(file);
    }
    // after the writes, which leave no temporaries behind, so every other regular file is stale
    const candidates = this.#swept ? [...this.#current] : await regularFiles(this.dir);
    for (const old of candidates) {
      if (next.has(old)) continue;
      await removeFile(path.join(this.dir, old));
      result.removed.push(old);
    }
    this.#swept = true;
    this.#current = next;
    return result;
  }
}

/** Names of the regular files directly in `dir`; readdir's types come from lstat, so links are not followed. */
async function regularFiles(dir: string): Promise<string[]> {
  const entries = await fs.readdir(dir, { withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => e.name);
}

async function removeFile(file: string): Promise<void> {
  try {
    // unlink, unlike rm, fails on a directory that replaced the file meanwhile
    await fs.unlink(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}

export async function writeJobInfo(dir: string, jobId: string, hostId: string): Promise<void> {
  await fs.mkdir(dir, { recursive: true, mode: 0o755 });
  await writeFileAtomic(path.join(dir, 'job-id'), jobId, 0o644);
  await writeFileAtomic(path.join(dir, 'host-id'), hostId, 0o644);
}

export const AUTHORIZED_KEYS_HEADER =
  '# This file is managed by tml-puppet (Treadmill) and may be overwritten at any time.\n';

export function authorizedKeysContent(keys: string[]): string {
  return `${AUTHORIZED_KEYS_HEADER}${keys.join('\n')}\n`;
}

export async function writeAuthorizedKeys(file: string, keys: string[]): Promise<void> {
  // sshd's StrictModes rejects keys in group- or world-writable places
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  await writeFileAtomic(file, authorizedKeysContent(keys), 0o600);
}
