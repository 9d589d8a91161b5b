import { lstat, readdir, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ImageToolError } from './errors.js';
import {
  BLOBS_DIR,
  blobPath,
  DIGEST_RE,
  IMAGE_TXT,
  IMAGES_DIR,
  isTempName,
  PARTIAL_DIR,
  VERIFIED_DIR,
} from './paths.js';
import { listImageIds, readManifest } from './store.js';
import { asCollector, refuseIfWriting } from './store-markers.js';
import { isStaleTemp } from './temp-files.js';
import { dropStaleImageTxt, imageTxtIsStale, pruneEmptyParents, reindexIfPresent, removeEmptyDirs } from './tidy.js';
import { walkTree } from './tree-walk.js';
import { classifyStorePath } from './verify.js';

export interface GcRemoval {
  path: string;
  size: number;
  reason: 'unreferenced' | 'temp-leftover' | 'partial-download' | 'stale-image-txt';
}
export interface GcResult {
  removed: GcRemoval[];
  bytes: number;
  dryRun: boolean;
  /** whether all.txt was rewritten (only when the store has one) */
  reindexed: boolean;
}

/**
 * Removes blobs no manifest references, temporary files of dead writers, partial downloads of pulls that
 * ended, cache records of blobs that are gone, an image.txt naming no image of the store, and then every
 * empty directory the tool's trees hold; rewrites all.txt if there is one. Refuses to run when a manifest
 * cannot be read (its blobs would look unreferenced and be deleted) or while a writer is adding an image
 * (its blobs are stored before its manifest). A dry run deletes nothing, so it only checks for writers
 * (its list would be wrong) and leaves no marker: it works on a read-only store.
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

  const candidates: Array<{ rel: string; reason: GcRemoval['reason']; onlyIfStale?: boolean }> = [];
  const temp = (rel: string, reason: GcRemoval['reason'] = 'temp-leftover'): void => {
    candidates.push({ rel, reason, onlyIfStale: true });
  };
  const unreferenced = new Set<string>();
  walkTree(storeDir, BLOBS_DIR, (e) => {
    if (isTempName(e.name)) temp(e.rel);
    else {
      const place = classifyStorePath(e.rel);
      // Misplaced or oddly named files are left for a human: verify names them.
      if (place.kind === 'content' && !referenced.has(place.digest)) {
        candidates.push({ rel: e.rel, reason: 'unreferenced' });
        unreferenced.add(place.digest);
      }
    }
  });
  walkTree(storeDir, IMAGES_DIR, (e) => {
    if (isTempName(e.name)) temp(e.rel);
  });
  for (const e of await readdir(storeDir, { withFileTypes: true })) {
    if (e.isFile() && isTempName(e.name)) temp(e.name);
  }
  // The tool's own state: downloads no pull is working on, records of blobs that are gone.
  const records: string[] = [];
  walkTree(storeDir, VERIFIED_DIR, (e) => {
    if (isTempName(e.name)) temp(e.rel);
    else records.push(e.rel);
  });
  const staleRecords: string[] = [];
  for (const rel of records) {
    const digest = rel.slice(rel.lastIndexOf('/') + 1);
    const blob = DIGEST_RE.test(digest) ? await lstat(blobPath(storeDir, digest)).catch(() => null) : null;
    if (!blob?.isFile() || unreferenced.has(digest)) staleRecords.push(rel);
  }
  walkTree(storeDir, PARTIAL_DIR, (e) => {
    if (isTempName(e.name)) temp(e.rel, 'partial-download');
    else candidates.push({ rel: e.rel, reason: 'partial-download' });
  });

  const removed: GcRemoval[] = [];
  for (const c of candidates) {
    const abs = join(storeDir, c.rel);
    const st = await lstat(abs).catch(() => null);
    if (!st) continue;
    const name = c.rel.slice(c.rel.lastIndexOf('/') + 1);
    if (c.onlyIfStale && !isStaleTemp(name, st.mtimeMs)) continue;
    if (!dryRun) {
      await unlink(abs);
      await pruneEmptyParents(storeDir, dirname(abs));
    }
    removed.push({ path: c.rel, size: st.size, reason: c.reason });
  }
  // Records are bookkeeping of a few bytes each, not the user's data: tidied without a line each.
  if (!dryRun) for (const rel of staleRecords) await unlink(join(storeDir, rel)).catch(() => {});
  const imageTxt = await lstat(join(storeDir, IMAGE_TXT)).catch(() => null);
  if (imageTxt && (dryRun ? await imageTxtIsStale(storeDir) : await dropStaleImageTxt(storeDir)))
    removed.push({ path: IMAGE_TXT, size: imageTxt.size, reason: 'stale-image-txt' });
  let reindexed = false;
  if (!dryRun) {
    await removeEmptyDirs(storeDir);
    reindexed = await reindexIfPresent(storeDir);
  }
  return { removed, bytes: removed.reduce((n, r) => n + r.size, 0), dryRun, reindexed };
}
