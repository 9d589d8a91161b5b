import { readdir, rmdir, stat, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ImageToolError } from './errors.js';
import { BLOBS_DIR, IMAGES_DIR, isTempName } from './paths.js';
import { listImageIds, readManifest } from './store.js';
import { asCollector, refuseIfWriting } from './store-markers.js';
import { isStaleTemp } from './temp-files.js';
import { walkTree } from './tree-walk.js';
import { classifyStorePath } from './verify.js';

export interface GcRemoval {
  path: string;
  size: number;
  reason: 'unreferenced' | 'temp-leftover';
}
export interface GcResult {
  removed: GcRemoval[];
  bytes: number;
  dryRun: boolean;
}

/**
 * Removes blobs no manifest references and temporary files of dead writers. Refuses to run when a
 * manifest cannot be read (its blobs would look unreferenced and be deleted) or while a writer is adding
 * an image (its blobs are stored before its manifest). A dry run deletes nothing, so it only checks for
 * writers (its list would be wrong) and leaves no marker: it works on a read-only store.
 */
export async function collectGarbage(storeDir: string, opts: { dryRun?: boolean } = {}): Promise<GcResult> {
  if (!opts.dryRun) return asCollector(storeDir, () => collect(storeDir, false));
  await refuseIfWriting(storeDir);
  return collect(storeDir, true);
}

async function collect(storeDir: string, dryRun: boolean): Promise<GcResult> {
  const referenced = new Set<string>();
  for (const id of await listImageIds(storeDir)) {
    let manifest;
    try {
      manifest = await readManifest(storeDir, id);
    } catch (err) {
      throw new ImageToolError(
        `refusing to collect garbage: ${(err as Error).message} (run verify, then fix or remove it)`,
      );
    }
    for (const b of Object.values(manifest.blobs)) referenced.add(b.digest);
  }

  const candidates: Array<{ rel: string; reason: GcRemoval['reason'] }> = [];
  walkTree(storeDir, BLOBS_DIR, (e) => {
    if (isTempName(e.name)) candidates.push({ rel: e.rel, reason: 'temp-leftover' });
    else {
      const place = classifyStorePath(e.rel);
      // Misplaced or oddly named files are left for a human: verify names them.
      if (place.kind === 'content' && !referenced.has(place.digest))
        candidates.push({ rel: e.rel, reason: 'unreferenced' });
    }
  });
  walkTree(storeDir, IMAGES_DIR, (e) => {
    if (isTempName(e.name)) candidates.push({ rel: e.rel, reason: 'temp-leftover' });
  });
  for (const e of await readdir(storeDir, { withFileTypes: true })) {
    if (e.isFile() && isTempName(e.name)) candidates.push({ rel: e.name, reason: 'temp-leftover' });
  }

  const removed: GcRemoval[] = [];
  for (const c of candidates) {
    const abs = join(storeDir, c.rel);
    const st = await stat(abs).catch(() => null);
    if (!st) continue;
    const name = c.rel.slice(c.rel.lastIndexOf('/') + 1);
    if (c.reason === 'temp-leftover' && !isStaleTemp(name, st.mtimeMs)) continue;
    if (!dryRun) {
      await unlink(abs);
      await pruneEmptyDirs(storeDir, dirname(abs));
    }
    removed.push({ path: c.rel, size: st.size, reason: c.reason });
  }
  return { removed, bytes: removed.reduce((n, r) => n + r.size, 0), dryRun };
}

/** Removes now-empty shard directories up to (not including) blobs/ and images/. */
async function pruneEmptyDirs(storeDir: string, dir: string): Promise<void> {
  const stops = new Set([storeDir, join(storeDir, BLOBS_DIR), join(storeDir, IMAGES_DIR)].map((d) => join(d)));
  while (!stops.has(join(dir))) {
    try {
      await rmdir(dir);
    } catch {
      return;
    }
    dir = dirname(dir);
  }
}
