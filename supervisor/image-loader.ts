// Loading an image for a job: reading its manifest from the local store and checking every blob, so a
// missing or corrupt image fails the job before a host is started. Blobs unchanged since they last
// hashed to their names (the store's verified-blob cache) are not hashed again: a job starts in
// milliseconds, not seconds per GiB. With mirrors, an image that is missing or damaged locally is
// pulled (and so repaired) first.

import { access } from 'node:fs/promises';
import { imagePath, readManifest, verifyImage, type Manifest } from '../imagetool/index.js';
import type { ImageFetcher } from './image-fetch.js';

/** Why an image cannot be used, in upstream's error kinds: it is not there, or it is damaged. */
export class ImageUnavailableError extends Error {
  constructor(
    readonly kind: 'ImageNotFound' | 'ImageInvalid',
    message: string,
  ) {
    super(message);
  }
}

async function present(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

export interface LoadOptions {
  /** pulls what the local store lacks; without one, a missing image fails the job */
  fetcher?: ImageFetcher;
  /** progress of a fetch, as the job's status message */
  onStatus?: (message: string) => void;
}

export async function loadVerifiedImage(storeDir: string, imageId: string, opts: LoadOptions = {}): Promise<Manifest> {
  try {
    return await loadLocal(storeDir, imageId);
  } catch (err) {
    if (opts.fetcher === undefined || !(err instanceof ImageUnavailableError)) throw err;
  }
  try {
    await opts.fetcher.fetch(imageId, opts.onStatus);
  } catch (err) {
    throw new ImageUnavailableError('ImageNotFound', err instanceof Error ? err.message : String(err));
  }
  return loadLocal(storeDir, imageId);
}

async function loadLocal(storeDir: string, imageId: string): Promise<Manifest> {
  let manifest: Manifest;
  try {
    manifest = await readManifest(storeDir, imageId);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    const kind = (await present(imagePath(storeDir, imageId))) ? 'ImageInvalid' : 'ImageNotFound';
    throw new ImageUnavailableError(kind, `image ${imageId} is not usable from store ${storeDir}: ${reason}`);
  }
  // Hosts that boot a qcow2 chain check it themselves (assertImageChain), with their own qemu-img.
  const findings = await verifyImage(storeDir, imageId, { trustCache: true, chains: false });
  if (findings.length > 0) {
    const first = findings[0]!;
    const more =
      findings.length > 1 ? ` (and ${findings.length - 1} more problem${findings.length > 2 ? 's' : ''})` : '';
    // A blob that is not there at all means the image was not fetched completely.
    const kind = findings.every((f) => f.kind === 'blob-missing') ? 'ImageNotFound' : 'ImageInvalid';
    throw new ImageUnavailableError(
      kind,
      `image ${imageId} failed verification in store ${storeDir}: ${first.path}: ${first.message}${more}`,
    );
  }
  return manifest;
}
