import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256Hex } from './digest.js';
import { describeFsError, ImageToolError } from './errors.js';
import { attempt } from '../protocol/validation.js';
import { parseManifest, type Manifest } from './manifest.js';
import { DIGEST_RE, IMAGES_DIR, imagePath, imageRelPath } from './paths.js';

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
        if (depth < 3) {
          if (e.isDirectory() && /^[0-9a-f]{2}$/.test(e.name))
            await walk(join(dir, e.name), depth + 1, prefix + e.name);
        } else if (DIGEST_RE.test(e.name) && e.name.startsWith(prefix) && !e.isDirectory()) {
          ids.push(e.name);
        }
      }),
    );
  };
  await walk(join(storeDir, IMAGES_DIR), 0, '');
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
  if (!DIGEST_RE.test(imageId))
    throw new ImageToolError(`${JSON.stringify(imageId)} is not an image ID (64 lower-case hex)`);
  const bytes = await readManifestBytes(storeDir, imageId);
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
