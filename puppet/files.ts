// Files the puppet maintains for the job (docs/puppet.md, "Files"), written as upstream's puppet
// writes them so that published images work unchanged.

import {
  closeSync,
  constants as fsConstants,
  fchmodSync,
  fchownSync,
  promises as fs,
  openSync,
  renameSync,
  rmSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import path from 'node:path';
import type { ParameterValue } from '../protocol/control-socket/messages.js';

/**
 * The file name for a parameter: every character that is not ASCII alphanumeric, space, `-` or
 * `_` removed, cut to 128 characters. Dots and slashes go, so no name can leave the directory.
 */
export function sanitizeParameterName(name: string): string {
  return name.replace(/[^A-Za-z0-9 _-]/g, '').slice(0, 128);
}

let tmpCounter = 0;

/** A temporary name beside `file`: a leading dot keeps it out of the parameter namespace (sanitized names have no dots). */
function temporaryName(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${tmpCounter++}.tmp`);
}

export interface FileOwnership {
  mode: number;
  /** group to give the file, or undefined to keep the creator's */
  gid?: number | undefined;
}

/**
 * Writes via a temporary file in the same directory and a rename: readers see old or new, whole.
 * Synchronous on purpose: tens of thousands of small files are written far faster this way than
 * through the thread pool, and ParameterFiles yields to the event loop between batches.
 */
export function writeFileAtomicSync(file: string, data: string | Uint8Array, own: FileOwnership): void {
  let tmp = '';
  let fd = -1;
  // 'wx' refuses to reuse a leftover temporary (of a crashed write, say); pid and counter make
  // a clash unlikely, and a clash only costs another name
  while (fd < 0) {
    tmp = temporaryName(file);
    try {
      fd = openSync(tmp, 'wx', own.mode);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
  try {
    try {
      fchmodSync(fd, own.mode); // the umask must not weaken or strengthen the intended mode
      if (own.gid !== undefined) fchownSync(fd, -1, own.gid);
      // no fsync: these files live on tmpfs (/run) and are rewritten at every start, so the
      // rename's atomicity is what readers need, not durability across a crash
      const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
      for (let at = 0; at < bytes.length;) at += writeSync(fd, bytes, at);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

export interface ParameterWriteResult {
  written: string[];
  removed: string[];
  /** parameter names whose file name sanitized to nothing */
  skipped: string[];
  /** parameter names that sanitized to a file name another parameter already used (the later name in sort order wins) */
  collisions: string[];
}

export interface ParameterModes {
  /** mode of plain parameters; upstream's 0644 */
  plain: FileOwnership;
  /** mode (and group) of secret ones; upstream's 0644 too, so the image's workload user can read them */
  secret: FileOwnership;
}

/** Upstream's puppet writes every parameter with File::create, i.e. 0644 under the usual umask. */
export const UPSTREAM_PARAMETER_MODES: ParameterModes = { plain: { mode: 0o644 }, secret: { mode: 0o644 } };

/** How long one synchronous batch of file operations may hold the event loop. */
const BATCH_MS = 10;

/** Runs `f` on every item, synchronously in slices of about BATCH_MS, yielding to the event loop between them. */
async function inBatches<T>(items: readonly T[], f: (item: T) => void): Promise<void> {
  let i = 0;
  while (i < items.length) {
    const until = performance.now() + BATCH_MS;
    do f(items[i++]!);
    while (i < items.length && performance.now() < until);
    if (i < items.length) await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

/** Which file each parameter goes to: pure, so collisions are decided before any file is written. */
export function planParameterFiles(parameters: Record<string, ParameterValue>): {
  files: Map<string, ParameterValue>;
  skipped: string[];
  collisions: string[];
} {
  const files = new Map<string, ParameterValue>();
  const skipped: string[] = [];
  const collisions: string[] = [];
  for (const name of Object.keys(parameters).sort()) {
    const file = sanitizeParameterName(name);
    if (file === '') {
      skipped.push(name);
      continue;
    }
    if (files.has(file)) collisions.push(name);
    files.set(file, parameters[name]!);
  }
  return { files, skipped, collisions };
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

  constructor(
    readonly dir: string,
    readonly modes: ParameterModes = UPSTREAM_PARAMETER_MODES,
  ) {}

  async write(parameters: Record<string, ParameterValue>): Promise<ParameterWriteResult> {
    await fs.mkdir(this.dir, { recursive: true, mode: 0o755 });
    const { files, skipped, collisions } = planParameterFiles(parameters);
    await inBatches([...files], ([file, p]) =>
      writeFileAtomicSync(path.join(this.dir, file), p.value, p.secret ? this.modes.secret : this.modes.plain),
    );
    // after the writes, which leave no temporaries behind, so every other regular file is stale
    const candidates = this.#swept ? [...this.#current] : await regularFiles(this.dir);
    const removed = candidates.filter((old) => !files.has(old));
    await inBatches(removed, (old) => removeFile(path.join(this.dir, old)));
    this.#swept = true;
    this.#current = new Set(files.keys());
    return { written: [...files.keys()], removed, skipped, collisions };
  }
}

/** Names of the regular files directly in `dir`; readdir's types come from lstat, so links are not followed. */
async function regularFiles(dir: string): Promise<string[]> {
  const entries = await fs.readdir(dir, { withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => e.name);
}

function removeFile(file: string): void {
  try {
    // unlink, unlike rm, fails on a directory that replaced the file meanwhile
    unlinkSync(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}

export async function writeJobInfo(dir: string, jobId: string, hostId: string | null): Promise<void> {
  await fs.mkdir(dir, { recursive: true, mode: 0o755 });
  writeFileAtomicSync(path.join(dir, 'job-id'), jobId, { mode: 0o644 });
  if (hostId !== null) writeFileAtomicSync(path.join(dir, 'host-id'), hostId, { mode: 0o644 });
}

/** Upstream's header, byte for byte. */
export const AUTHORIZED_KEYS_HEADER =
  '# WARNING: this file is managed by tml-puppet and may be overwritten.\n' +
  '# Please add your own SSH keys to an alternative authorized_keys file\n' +
  '# (such as ~/.ssh/authorized_keys2)\n';

export function authorizedKeysContent(keys: string[]): string {
  return `${AUTHORIZED_KEYS_HEADER}${keys.join('\n')}\n`;
}

/**
 * Splits the supervisor's keys into those that can be written and the (0-based) indexes of those
 * that cannot: a key holding a line break would add lines of its own to the file (another key,
 * or options), and a NUL byte ends the line for sshd.
 */
export function acceptableSshKeys(keys: readonly string[]): { keys: string[]; refused: number[] } {
  const accepted: string[] = [];
  const refused: number[] = [];
  keys.forEach((key, i) => {
    if (/[\r\n\0]/.test(key)) refused.push(i);
    else accepted.push(key);
  });
  return { keys: accepted, refused };
}

/**
 * Rewrites the authorized keys file in place, as upstream does: opened, truncated and written,
 * never replaced, so the owner, group and mode the image gave it stay (sshd refuses a file that
 * changed owner). Created, with upstream's 0644 under the umask, only if missing. It often lives
 * in a directory its user owns, so this root process opens it without following a symbolic link,
 * without blocking on a FIFO, and refuses anything but a regular file with one link.
 */
export async function writeAuthorizedKeys(file: string, keys: string[]): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o755 });
  const { O_WRONLY, O_CREAT, O_NOFOLLOW, O_NONBLOCK } = fsConstants;
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(file, O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK, 0o644);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') throw new Error(`${file} is a symbolic link; refusing to write through it`);
    if (code === 'ENXIO') throw new Error(`${file} is a FIFO or socket, not a regular file`);
    throw e;
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw new Error(`${file} is not a regular file`);
    if (st.nlink > 1) throw new Error(`${file} has ${st.nlink} hard links; refusing to write to it`);
    await handle.truncate(0);
    await handle.write(authorizedKeysContent(keys), 0, 'utf8');
  } finally {
    await handle.close();
  }
}
