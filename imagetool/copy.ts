import { mkdir, realpath } from 'node:fs/promises';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { storedBlobIsSound } from './blob-cache.js';
import { addBlob } from './blob-writer.js';
import type { ProgressFn } from './digest.js';
import { describeFsError, ImageToolError } from './errors.js';
import type { Manifest } from './manifest.js';
import { blobPath } from './paths.js';
import { readManifest, readManifestBytes } from './store.js';
import { checkBlobsPresent, putManifest } from './create.js';
import { asWriter } from './store-markers.js';
import { removeStaleTemps } from './temp-files.js';

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

/** The real path `path` would have: that of its deepest existing ancestor, plus the missing rest. */
async function realpathToBe(path: string): Promise<string> {
  const missing: string[] = [];
  let dir = resolve(path);
  for (;;) {
    try {
      return join(await realpath(dir), ...missing.reverse());
    } catch (err) {
      const parent = dirname(dir);
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || parent === dir) throw describeFsError(err, 'open', dir);
      missing.push(basename(dir));
      dir = parent;
    }
  }
}

/**
 * Refuses a target that is the source store or lies inside it (its files would land in the source's
 * tree, where verify and gc judge them), before anything is created.
 */
async function checkTarget(fromStore: string, toStore: string): Promise<void> {
  const from = await realpath(fromStore).catch((err: unknown) => {
    throw describeFsError(err, 'open store', fromStore);
  });
  const to = await realpathToBe(toStore);
  if (to === from) throw new ImageToolError('source and target store are the same directory');
  if (to.startsWith(from.endsWith(sep) ? from : from + sep))
    throw new ImageToolError(
      `target ${toStore} is inside the source store ${fromStore}; copy to a directory outside it`,
    );
}

/**
 * Copies images and their blobs into another store. Blobs the target already holds are skipped once they
 * are found sound there (size, and digest from the verified-blob cache or by hashing); a damaged one is
 * copied again and replaced atomically. Everything copied is hashed on the way and refused if it does not
 * match its name, so a damaged source never spreads. Each manifest is written last, after all its blobs
 * are in place: a killed copy leaves at most blobs without an image, never an image without its blobs.
 */
export async function copyImages(
  fromStore: string,
  toStore: string,
  imageIds: string[],
  opts: CopyOptions = {},
): Promise<CopyResult> {
  await checkTarget(fromStore, toStore);
  const plans: Array<{ id: string; manifest: Manifest }> = [];
  for (const id of imageIds) plans.push({ id, manifest: await readManifest(fromStore, id) });
  await mkdir(toStore, { recursive: true }).catch((err: unknown) => {
    throw describeFsError(err, 'create store', toStore);
  });

  return asWriter(
    toStore,
    async () => {
      await removeStaleTemps(toStore);
      const pending = new Map<string, number>();
      let skipped = 0;
      for (const { manifest } of plans) {
        for (const b of Object.values(manifest.blobs)) {
          if (pending.has(b.digest)) continue;
          if (await storedBlobIsSound(toStore, b.digest, b.size)) skipped++;
          else pending.set(b.digest, b.size);
        }
      }
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
        await checkBlobsPresent(toStore, manifest);
        await putManifest(toStore, id, await readManifestBytes(fromStore, id));
      }
      return { images: plans.map((p) => p.id), blobsCopied: copied.size, blobsSkipped: skipped, bytesCopied: bytes };
    },
    opts.onWaitForGc,
  );
}
