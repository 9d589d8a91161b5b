// Fetching an image for a job: on this supervisor that means reading its manifest from the local store
// and checking every blob, so a missing or corrupt image fails the job before a host is started.

import { access } from 'node:fs/promises';
import { imagePath, readManifest, verifyImage, type Manifest } from '../imagetool/index.js';

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

export async function loadVerifiedImage(storeDir: string, imageId: string): Promise<Manifest> {
  let manifest: Manifest;
  try {
    manifest = await readManifest(storeDir, imageId);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    const kind = (await present(imagePath(storeDir, imageId))) ? 'ImageInvalid' : 'ImageNotFound';
    throw new ImageUnavailableError(kind, `image ${imageId} is not usable from store ${storeDir}: ${reason}`);
  }
  const findings = await verifyImage(storeDir, imageId);
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
