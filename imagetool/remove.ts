import { unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { describeFsError } from './errors.js';
import { imagePath, imageRelPath } from './paths.js';
import { asWriter } from './store-markers.js';
import { dropStaleImageTxt, pruneEmptyParents, reindexIfPresent } from './tidy.js';

export interface RemoveResult {
  removed: string[];
  /** image.txt named one of the removed images and is gone */
  imageTxtRemoved: boolean;
  /** all.txt was rewritten (only when the store has one) */
  reindexed: boolean;
}

/**
 * Removes images (their manifests) from a store; their blobs stay until `gc` finds them unreferenced, so
 * removing an image never breaks another that shares its blobs. image.txt is removed when it named one
 * of them, and all.txt, if there, is rewritten. Holds a writer marker: a running gc finishes first.
 */
export async function removeImages(
  storeDir: string,
  imageIds: string[],
  opts: { onWaitForGc?: (gcPid: number) => void } = {},
): Promise<RemoveResult> {
  return asWriter(
    storeDir,
    async () => {
      for (const id of imageIds) {
        const path = imagePath(storeDir, id);
        await unlink(path).catch((err: unknown) => {
          throw describeFsError(err, 'remove', imageRelPath(id));
        });
        await pruneEmptyParents(storeDir, dirname(path));
      }
      const imageTxtRemoved = await dropStaleImageTxt(storeDir, new Set(imageIds));
      return { removed: imageIds, imageTxtRemoved, reindexed: await reindexIfPresent(storeDir) };
    },
    opts.onWaitForGc,
  );
}
