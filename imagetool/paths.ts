import { join } from 'node:path';

/** Store layout (docs/image-store.md, "Layout"): content lives under three two-hex-digit shard levels. */

export const DIGEST_RE = /^[0-9a-f]{64}$/;
export const BLOBS_DIR = 'blobs';
export const IMAGES_DIR = 'images';
export const IMAGE_TXT = 'image.txt';
export const ALL_TXT = 'all.txt';
/**
 * The tool's own state inside a store (verified-blob records, resumable downloads). Not store content:
 * all.txt never lists it, verify does not judge it, gc tidies it, and pull never fetches it.
 */
export const STATE_DIR = '.imagetool';
export const VERIFIED_DIR = `${STATE_DIR}/verified`;
export const PARTIAL_DIR = `${STATE_DIR}/partial`;

/** The shard directories of a digest: ab/cd/ef for abcdef... */
export function shardParts(digest: string): [string, string, string] {
  return [digest.slice(0, 2), digest.slice(2, 4), digest.slice(4, 6)];
}

/** Store-relative path (POSIX separators, as in all.txt and findings) of a blob. */
export function blobRelPath(digest: string): string {
  return [BLOBS_DIR, ...shardParts(digest), digest].join('/');
}

export function imageRelPath(imageId: string): string {
  return [IMAGES_DIR, ...shardParts(imageId), imageId].join('/');
}

export function blobPath(storeDir: string, digest: string): string {
  return join(storeDir, blobRelPath(digest));
}

export function imagePath(storeDir: string, imageId: string): string {
  return join(storeDir, imageRelPath(imageId));
}

/** The backing-file path by which any blob reaches blob `toDigest`: shard depths are equal (docs/image-store.md, "Layered disk images"). */
export function blobRelativeFromBlob(toDigest: string): string {
  return ['..', '..', '..', ...shardParts(toDigest), toDigest].join('/');
}

/**
 * Temporary files are named `.tmp-<pid>-<random>` so that every reader of the store (verify, gc, index,
 * the next writer) recognises them by name anywhere in the tree, and can tell whether their writer is
 * still running. The store-root markers of writers and gc (`.writer-<pid>-<random>`, `.gc-<pid>-<random>`,
 * see store-markers.ts) follow the same pattern, so they are never indexed and a dead one is a leftover.
 */
const TEMP_RE = /^\.(?:tmp|writer|gc)-(\d+)-[0-9a-f]+$/;

export function tempName(random: string): string {
  return `.tmp-${process.pid}-${random}`;
}

export function isTempName(name: string): boolean {
  return TEMP_RE.test(name);
}

/** The pid recorded in a temp file's name, or null when the name is not a temp name. */
export function tempOwnerPid(name: string): number | null {
  const m = TEMP_RE.exec(name);
  return m ? Number(m[1]) : null;
}
