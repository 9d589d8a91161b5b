import { randomBytes } from 'node:crypto';
import { open, readdir, stat, unlink, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { describeFsError, ImageToolError } from './errors.js';
import { tempOwnerPid } from './paths.js';
import { isStaleTemp } from './temp-files.js';

/**
 * Writers and gc exclude each other with marker files in the store root (Node has no portable flock).
 * Each side creates its own marker first and only then looks for the other's, so whichever looks second
 * sees the first: a gc never deletes blobs of an image still being written. A marker's pid tells whether
 * its owner still runs; a dead one is an ordinary temp leftover (its name matches the temp pattern).
 */
export type MarkerRole = 'writer' | 'gc';

/** Keeps a live marker younger than the day after which any temp file counts as stale (pid reuse guard). */
const REFRESH_EVERY_MS = 60 * 60 * 1000;
/** How often a writer looks again whether gc has finished, and how long it waits at most. */
const POLL_MS = 100;
const WAIT_FOR_GC_MS = 10 * 60 * 1000;

export interface Marker {
  path: string;
  release: () => Promise<void>;
}

async function createMarker(storeDir: string, role: MarkerRole): Promise<Marker> {
  const path = join(storeDir, `.${role}-${process.pid}-${randomBytes(6).toString('hex')}`);
  const fh = await open(path, 'wx', 0o644).catch((err: unknown) => {
    throw describeFsError(err, `mark the store as used by ${role} in`, storeDir);
  });
  await fh.close();
  const timer = setInterval(() => {
    const now = new Date();
    utimes(path, now, now).catch(() => {});
  }, REFRESH_EVERY_MS);
  timer.unref();
  return {
    path,
    release: async () => {
      clearInterval(timer);
      await unlink(path).catch(() => {});
    },
  };
}

/** Pids of live markers of `role` in the store root, own markers of this process included. */
export async function liveMarkerPids(storeDir: string, role: MarkerRole): Promise<number[]> {
  const pids: number[] = [];
  for (const name of await readdir(storeDir).catch(() => [] as string[])) {
    if (!name.startsWith(`.${role}-`)) continue;
    const pid = tempOwnerPid(name);
    const st = await stat(join(storeDir, name)).catch(() => null);
    if (pid !== null && st && !isStaleTemp(name, st.mtimeMs)) pids.push(pid);
  }
  return pids;
}

/**
 * Runs a command that adds blobs or manifests to the store while holding a writer marker. If a gc is
 * running it waits for that gc to finish (calling `onWait` once with its pid), and gives up after ten
 * minutes. The store directory must exist.
 */
export async function asWriter<T>(
  storeDir: string,
  work: () => Promise<T>,
  onWait?: (gcPid: number) => void,
): Promise<T> {
  const marker = await createMarker(storeDir, 'writer');
  try {
    const deadline = Date.now() + WAIT_FOR_GC_MS;
    let announced = false;
    for (;;) {
      const gcPids = await liveMarkerPids(storeDir, 'gc');
      if (gcPids.length === 0) break;
      if (!announced) {
        onWait?.(gcPids[0]!);
        announced = true;
      }
      if (Date.now() > deadline)
        throw new ImageToolError(
          `store is being garbage-collected by pid ${gcPids[0]} for more than ${WAIT_FOR_GC_MS / 60_000} minutes; try again when it is done`,
        );
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
    return await work();
  } finally {
    await marker.release();
  }
}

/** gc's check: refuses (without waiting) while any writer is live. */
export async function refuseIfWriting(storeDir: string): Promise<void> {
  const writers = await liveMarkerPids(storeDir, 'writer');
  if (writers.length > 0)
    throw new ImageToolError(`store is being written by pid ${writers[0]}; run gc again when it is done`);
}

/** Runs gc's work holding a gc marker, after checking that no writer is live. */
export async function asCollector<T>(storeDir: string, work: () => Promise<T>): Promise<T> {
  const marker = await createMarker(storeDir, 'gc');
  try {
    await refuseIfWriting(storeDir);
    return await work();
  } finally {
    await marker.release();
  }
}
