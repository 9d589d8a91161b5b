import { readdir, readFile, rmdir, stat, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { writeIndex } from './all-txt.js';
import { ALL_TXT, BLOBS_DIR, DIGEST_RE, IMAGE_TXT, imagePath, IMAGES_DIR, STATE_DIR } from './paths.js';

/** What removing things from a store leaves to tidy: empty shard directories, image.txt, all.txt. */

/** The trees whose directories the tool creates, and so may remove when they are empty. */
const OWN_TREES = [BLOBS_DIR, IMAGES_DIR, STATE_DIR];

/** Removes `dir` and then its parents while they are empty, stopping below the store root. */
export async function pruneEmptyParents(storeDir: string, dir: string): Promise<void> {
  const root = join(storeDir);
  while (join(dir) !== root && dirname(dir) !== dir) {
    try {
      await rmdir(dir);
    } catch {
      return;
    }
    dir = dirname(dir);
  }
}

/** Removes every empty directory under blobs/, images/ and .imagetool/ (those included), deepest first. */
export async function removeEmptyDirs(storeDir: string): Promise<void> {
  const sweep = async (dir: string): Promise<boolean> => {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return false;
    }
    let empty = true;
    for (const e of entries) {
      if (!e.isDirectory() || !(await sweep(join(dir, e.name)))) empty = false;
    }
    if (!empty) return false;
    return rmdir(dir).then(
      () => true,
      () => false,
    );
  };
  for (const top of OWN_TREES) await sweep(join(storeDir, top));
}

/** The image image.txt names, or null when it names none (missing, or not an ID). */
async function imageTxtId(storeDir: string): Promise<string | null> {
  const text = await readFile(join(storeDir, IMAGE_TXT), 'utf8').catch(() => null);
  const id = text?.trim() ?? '';
  return DIGEST_RE.test(id) ? id : null;
}

/** Whether image.txt, if there, names no image the store holds (`removedIds`: none of those). */
export async function imageTxtIsStale(storeDir: string, removedIds?: Set<string>): Promise<boolean> {
  if (!(await stat(join(storeDir, IMAGE_TXT)).catch(() => null))) return false;
  const id = await imageTxtId(storeDir);
  if (removedIds !== undefined) return id !== null && removedIds.has(id);
  return id === null || !(await stat(imagePath(storeDir, id)).catch(() => null));
}

/**
 * Removes image.txt when it no longer tells the truth: it names an image the store does not hold (or
 * nothing readable). With `removedIds`, only a pointer to one of those counts (rm leaves an unrelated
 * broken image.txt to gc, which checks it against the store). Returns whether it was removed.
 */
export async function dropStaleImageTxt(storeDir: string, removedIds?: Set<string>): Promise<boolean> {
  if (!(await imageTxtIsStale(storeDir, removedIds))) return false;
  await unlink(join(storeDir, IMAGE_TXT));
  return true;
}

/** Rewrites all.txt when the store has one, so mirrors are not sent after files that are gone. */
export async function reindexIfPresent(storeDir: string): Promise<boolean> {
  if (!(await stat(join(storeDir, ALL_TXT)).catch(() => null))) return false;
  await writeIndex(storeDir);
  return true;
}
