import { rename } from 'node:fs/promises';

/**
 * The one step that makes a written file visible under its final name: rename(2) of a complete, fsynced
 * temp file in the same directory tree. rename is atomic, so readers and a crash at any moment see the
 * old file (or none) or the whole new one; every store write (blobs, manifests, image.txt, all.txt, cache
 * records) goes through here, so a crash test that stops a writer at this point covers them all.
 */

/** Called with the temp file, complete and synced, and the name it is about to get. */
export type PublishHook = (tempPath: string, finalPath: string) => void | Promise<void>;

let beforePublish: PublishHook | undefined;

/** Installs (or, with undefined, removes) a hook run before every publish of this process: a fault-injection seam. */
export function setBeforePublish(hook: PublishHook | undefined): void {
  beforePublish = hook;
}

export async function publish(tempPath: string, finalPath: string): Promise<void> {
  await beforePublish?.(tempPath, finalPath);
  await rename(tempPath, finalPath);
}
