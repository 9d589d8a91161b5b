import { randomBytes } from 'node:crypto';
import { open, readdir, stat, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { BLOBS_DIR, IMAGES_DIR, isTempName, tempName, tempOwnerPid } from './paths.js';
import { publish } from './publish.js';

/** A temp file not touched for this long is stale even if a process with its pid exists (pid reuse). */
const STALE_AFTER_MS = 24 * 60 * 60 * 1000;

export function newTempPath(dir: string): string {
  return join(dir, tempName(randomBytes(6).toString('hex')));
}

/** Creates a fresh temp file in `dir` (never an existing one: O_EXCL). */
export async function createTempFile(dir: string): Promise<{ path: string; fh: FileHandle }> {
  const path = newTempPath(dir);
  const fh = await open(path, 'wx', 0o644);
  return { path, fh };
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * A temp file is a leftover (safe to delete, worth reporting) when the process that wrote it is gone, or
 * when it has not been modified for a day. Files of live writers are in-progress work, not damage.
 */
export function isStaleTemp(name: string, mtimeMs: number, now = Date.now()): boolean {
  const pid = tempOwnerPid(name);
  if (pid === null) return false;
  if (now - mtimeMs > STALE_AFTER_MS) return true;
  if (pid === process.pid) return false;
  return !processAlive(pid);
}

/** Opens a directory and fsyncs it so a rename inside it survives power loss. */
export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Writes `data` to `finalPath` through a temp file beside it: write, fsync, rename, fsync the directory.
 * Readers see either the old file or the complete new one, never a partial one. `durable: false` skips
 * the fsyncs, for files whose loss in a power cut costs nothing (cache records).
 */
export async function writeFileAtomic(
  finalPath: string,
  data: Uint8Array | string,
  opts: { durable?: boolean } = {},
): Promise<void> {
  const durable = opts.durable ?? true;
  const dir = dirname(finalPath);
  const { path, fh } = await createTempFile(dir);
  try {
    try {
      await fh.writeFile(data);
      if (durable) await fh.sync();
    } finally {
      await fh.close();
    }
    await publish(path, finalPath);
  } catch (err) {
    await unlink(path).catch(() => {});
    throw err;
  }
  if (durable) await syncDir(dir);
}

/** Where writers put temp files: the store root, blobs/, and the image shard directories. */
async function tempCandidates(storeDir: string): Promise<string[]> {
  const found: string[] = [];
  const scan = async (dir: string, descend: number): Promise<void> => {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    await Promise.all(
      entries.map(async (e) => {
        if (e.isFile() && isTempName(e.name)) found.push(join(dir, e.name));
        else if (e.isDirectory() && descend > 0 && /^[0-9a-f]{2}$/.test(e.name))
          await scan(join(dir, e.name), descend - 1);
      }),
    );
  };
  await Promise.all([scan(storeDir, 0), scan(join(storeDir, BLOBS_DIR), 0), scan(join(storeDir, IMAGES_DIR), 3)]);
  return found;
}

/**
 * Removes temp files left by writers that died (kill -9, power loss). Called at the start of every
 * writing command, so a crash is cleaned up by the next run; temp files of live writers are left alone.
 */
export async function removeStaleTemps(storeDir: string): Promise<string[]> {
  const removed: string[] = [];
  for (const path of await tempCandidates(storeDir)) {
    const st = await stat(path).catch(() => null);
    if (st && isStaleTemp(basename(path), st.mtimeMs)) {
      await unlink(path).then(
        () => removed.push(path),
        () => {},
      );
    }
  }
  return removed;
}
