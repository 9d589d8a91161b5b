import { mkdir, realpath, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { addBlob } from './blob-writer.js';
import type { ProgressFn } from './digest.js';
import { ImageToolError } from './errors.js';
import type { Manifest } from './manifest.js';
import { blobPath, imagePath } from './paths.js';
import { readManifest, readManifestBytes } from './store.js';
import { checkBlobsPresent } from './create.js';
import { asWriter } from './store-markers.js';
import { removeStaleTemps, writeFileAtomic } from './temp-files.js';

export interface CopyResult {
  images: string[];
  blobsCopied: number;
  blobsSkipped: number;
  bytesCopied: number;
}

export interface CopyOptions {
  onStart?: (totalBytes: number) => void;
  onProgress?: ProgressFn;
  onWaitForGc?: (gcPid: number) => void;
}

/**
 * Copies images and their blobs into another store. Blobs the target already holds (same digest and
 * size) are skipped; everything copied is hashed on the way and refused if it does not match its name,
 * so a damaged source never spreads. Each manifest is written last, after all its blobs are in place:
 * a killed copy leaves at most blobs without an image, never an image without its blobs.
 */
export async function copyImages(
  fromStore: string,
  toStore: string,
  imageIds: string[],
  opts: CopyOptions = {},
): Promise<CopyResult> {
  await mkdir(toStore, { recursive: true });
  if ((await realpath(fromStore)) === (await realpath(toStore)))
    throw new ImageToolError('source and target store are the same directory');
  const plans: Array<{ id: string; manifest: Manifest }> = [];
  for (const id of imageIds) plans.push({ id, manifest: await readManifest(fromStore, id) });

  return asWriter(
    toStore,
    async () => {
      const pending = new Map<string, number>();
      let skipped = 0;
      for (const { manifest } of plans) {
        for (const b of Object.values(manifest.blobs)) {
          if (pending.has(b.digest)) continue;
          const there = await stat(blobPath(toStore, b.digest)).catch(() => null);
          if (there?.isFile() && there.size === b.size) skipped++;
          else pending.set(b.digest, b.size);
        }
      }
      await removeStaleTemps(toStore);
      opts.onStart?.([...pending.values()].reduce((n, s) => n + s, 0));

      const copied = new Set<string>();
      let bytes = 0;
      for (const { id, manifest } of plans) {
        for (const [name, b] of Object.entries(manifest.blobs)) {
          if (!pending.has(b.digest) || copied.has(b.digest)) continue;
          try {
            const added = await addBlob(toStore, blobPath(fromStore, b.digest), {
              expectedDigest: b.digest,
              onProgress: opts.onProgress,
            });
            if (added.size !== b.size) throw new ImageToolError(`blob is ${added.size} bytes, manifest says ${b.size}`);
          } catch (err) {
            throw new ImageToolError(`image ${id} blob ${name}: ${(err as Error).message}`);
          }
          copied.add(b.digest);
          bytes += b.size;
        }
        const target = imagePath(toStore, id);
        if (!(await stat(target).catch(() => null))) {
          await checkBlobsPresent(toStore, manifest);
          await mkdir(dirname(target), { recursive: true });
          await writeFileAtomic(target, await readManifestBytes(fromStore, id));
        }
      }
      return { images: plans.map((p) => p.id), blobsCopied: copied.size, blobsSkipped: skipped, bytesCopied: bytes };
    },
    opts.onWaitForGc,
  );
}
