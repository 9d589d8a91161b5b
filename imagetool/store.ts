import { readdirSync, readFileSync, type Dirent } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256Hex } from './digest.js';
import { describeFsError, ImageToolError } from './errors.js';
import { attempt } from '../protocol/validation.js';
import { parseManifest, type Manifest } from './manifest.js';
import { DIGEST_RE, IMAGES_DIR, imagePath, imageRelPath } from './paths.js';

/**
 * What an entry of images/ at `depth` (0 at images/ itself) is on the way to image IDs: a shard
 * directory to walk into, an image ID found at its proper shard path, or neither.
 */
function entryKind(e: Dirent, depth: number, prefix: string): 'shard' | 'image' | null {
  if (depth < 3) return e.isDirectory() && /^[0-9a-f]{2}$/.test(e.name) ? 'shard' : null;
  return DIGEST_RE.test(e.name) && e.name.startsWith(prefix) && !e.isDirectory() ? 'image' : null;
}

/** Image IDs found at their proper shard path under images/, sorted. Missing images/ means none. */
export async function listImageIds(storeDir: string): Promise<string[]> {
  const ids: string[] = [];
  const walk = async (dir: string, depth: number, prefix: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw describeFsError(err, 'read', dir);
    }
    await Promise.all(
      entries.map(async (e) => {
        const kind = entryKind(e, depth, prefix);
        if (kind === 'shard') await walk(join(dir, e.name), depth + 1, prefix + e.name);
        else if (kind === 'image') ids.push(e.name);
      }),
    );
  };
  await walk(join(storeDir, IMAGES_DIR), 0, '');
  return ids.sort();
}

/**
 * listImageIds for a command that does nothing else meanwhile (`list`): each of the walk's
 * directory reads through the libuv threadpool costs a wake-up of a thread and of the main loop,
 * most of the time a small store takes to list.
 */
export function listImageIdsSync(storeDir: string): string[] {
  const ids: string[] = [];
  const walk = (dir: string, depth: number, prefix: string): void => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw describeFsError(err, 'read', dir);
    }
    for (const e of entries) {
      const kind = entryKind(e, depth, prefix);
      if (kind === 'shard') walk(join(dir, e.name), depth + 1, prefix + e.name);
      else if (kind === 'image') ids.push(e.name);
    }
  };
  walk(join(storeDir, IMAGES_DIR), 0, '');
  return ids.sort();
}

/** Accepts a full ID or an unambiguous prefix of one. */
export async function resolveImageId(storeDir: string, idOrPrefix: string): Promise<string> {
  const wanted = idOrPrefix.toLowerCase();
  if (!/^[0-9a-f]{1,64}$/.test(wanted))
    throw new ImageToolError(`${JSON.stringify(idOrPrefix)} is not an image ID (hex digits)`);
  const matches = (await listImageIds(storeDir)).filter((id) => id.startsWith(wanted));
  if (matches.length === 0) throw new ImageToolError(`no image ${idOrPrefix} in store ${storeDir}`);
  if (matches.length > 1) {
    throw new ImageToolError(
      `image ID prefix ${idOrPrefix} is ambiguous: ${matches.length} images match (${matches.slice(0, 3).join(', ')}${matches.length > 3 ? ', ...' : ''})`,
    );
  }
  return matches[0]!;
}

export async function readManifestBytes(storeDir: string, imageId: string): Promise<Buffer> {
  try {
    return await readFile(imagePath(storeDir, imageId));
  } catch (err) {
    throw describeFsError(err, 'read manifest', imageRelPath(imageId));
  }
}

/** Reads, checks (bytes hash to the ID) and parses a stored manifest. */
export async function readManifest(storeDir: string, imageId: string): Promise<Manifest> {
  checkImageId(imageId);
  return manifestOf(imageId, await readManifestBytes(storeDir, imageId));
}

/** readManifest without the threadpool, as listImageIdsSync. */
export function readManifestSync(storeDir: string, imageId: string): Manifest {
  checkImageId(imageId);
  let bytes: Buffer;
  try {
    bytes = readFileSync(imagePath(storeDir, imageId));
  } catch (err) {
    throw describeFsError(err, 'read manifest', imageRelPath(imageId));
  }
  return manifestOf(imageId, bytes);
}

function checkImageId(imageId: string): void {
  if (!DIGEST_RE.test(imageId))
    throw new ImageToolError(`${JSON.stringify(imageId)} is not an image ID (64 lower-case hex)`);
}

/** The manifest in `bytes`, once they hash to its ID. */
function manifestOf(imageId: string, bytes: Buffer): Manifest {
  if (sha256Hex(bytes) !== imageId)
    throw new ImageToolError(`${imageRelPath(imageId)}: manifest bytes do not hash to the image ID`);
  const parsed = attempt(() => parseManifest(bytes));
  if (!parsed.ok) throw new ImageToolError(`${imageRelPath(imageId)}: invalid manifest: ${parsed.error.message}`);
  return parsed.value;
}

export interface ImageSummary {
  id: string;
  label: string;
  revision: number;
  blobCount: number;
  totalSize: number;
}

export function summarize(id: string, m: Manifest): ImageSummary {
  const blobs = Object.values(m.blobs);
  return {
    id,
    label: m.label,
    revision: m.revision,
    blobCount: blobs.length,
    totalSize: blobs.reduce((n, b) => n + b.size, 0),
  };
}
