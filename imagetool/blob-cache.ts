import type { BigIntStats } from 'node:fs';
import { lstat, mkdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { hashFile } from './digest.js';
import { blobPath, DIGEST_RE, VERIFIED_DIR } from './paths.js';
import { writeFileAtomic } from './temp-files.js';

/**
 * The verified-blob cache. Hashing a 4 GiB image before every job costs seconds of CPU, yet a blob whose
 * file has not changed since it last hashed to its name need not be hashed again. "Not changed" is judged
 * by what the kernel keeps for every file: device, inode, size, and modification and change times in
 * nanoseconds. Writing, truncating, chmod-ing or replacing a file moves its ctime, which no process can
 * set back, so a file touched in any way misses the cache. What metadata cannot show is damage below the
 * file system (bit rot): `verify` hashes everything unless asked to trust the cache.
 *
 * One record per blob, STORE/.imagetool/verified/<first two hex>/<digest>, a single line
 * `v1 <digest> <dev> <ino> <size> <mtime ns> <ctime ns>`. Records are hints, never authority: a missing,
 * torn or foreign record is a miss, and writing one may fail (a read-only store) without consequence.
 */

export interface FileIdentity {
  dev: bigint;
  ino: bigint;
  size: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
}

export function identityOf(st: BigIntStats): FileIdentity {
  return { dev: st.dev, ino: st.ino, size: st.size, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs };
}

export function sameIdentity(a: FileIdentity, b: FileIdentity): boolean {
  return a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs;
}

export function formatRecord(digest: string, id: FileIdentity): string {
  return `v1 ${digest} ${id.dev} ${id.ino} ${id.size} ${id.mtimeNs} ${id.ctimeNs}\n`;
}

const RECORD_RE = /^v1 ([0-9a-f]{64}) (\d{1,20}) (\d{1,20}) (\d{1,20}) (\d{1,25}) (\d{1,25})\n$/;

/** Parses a record file's text; anything but one well-formed line is null (a miss). */
export function parseRecord(text: string): { digest: string; identity: FileIdentity } | null {
  const m = RECORD_RE.exec(text);
  if (!m) return null;
  const [dev, ino, size, mtimeNs, ctimeNs] = m.slice(2).map((n) => BigInt(n)) as [
    bigint,
    bigint,
    bigint,
    bigint,
    bigint,
  ];
  return { digest: m[1]!, identity: { dev, ino, size, mtimeNs, ctimeNs } };
}

export function recordPath(storeDir: string, digest: string): string {
  return join(storeDir, VERIFIED_DIR, digest.slice(0, 2), digest);
}

/** The blob file's identity now, or null when it is missing or not a regular file (a symlink is never trusted). */
export async function blobIdentity(storeDir: string, digest: string): Promise<FileIdentity | null> {
  const st = await lstat(blobPath(storeDir, digest), { bigint: true }).catch(() => null);
  return st?.isFile() ? identityOf(st) : null;
}

/** True when a record says the blob, exactly as its file is now (`current`), hashed to its name. */
export async function isVerified(storeDir: string, digest: string, current: FileIdentity): Promise<boolean> {
  if (!DIGEST_RE.test(digest)) return false;
  const text = await readFile(recordPath(storeDir, digest), 'utf8').catch(() => null);
  const record = text === null ? null : parseRecord(text);
  return record !== null && record.digest === digest && sameIdentity(record.identity, current);
}

/**
 * Records that the blob hashed to its name, given its identity from before it was read. If the file
 * changed meanwhile nothing is recorded. Best effort: a store we cannot write to just stays uncached.
 */
export async function recordVerified(storeDir: string, digest: string, before: FileIdentity): Promise<void> {
  const now = await blobIdentity(storeDir, digest);
  if (now === null || !sameIdentity(before, now)) return;
  const path = recordPath(storeDir, digest);
  try {
    await mkdir(dirname(path), { recursive: true });
    // A cache need not survive power loss: a lost record is a miss, so no fsync.
    await writeFileAtomic(path, formatRecord(digest, now), { durable: false });
  } catch {
    // read-only or full store: the blob is simply hashed again next time
  }
}

/**
 * Whether the stored blob is sound: a regular file of the expected size (when given) whose content hashes
 * to its name, taken from the cache when the file is unchanged since it last did. A sound blob that was
 * hashed here is recorded.
 */
export async function storedBlobIsSound(storeDir: string, digest: string, expectedSize?: number): Promise<boolean> {
  const before = await blobIdentity(storeDir, digest);
  if (before === null) return false;
  if (expectedSize !== undefined && before.size !== BigInt(expectedSize)) return false;
  if (await isVerified(storeDir, digest, before)) return true;
  const hashed = await hashFile(blobPath(storeDir, digest)).catch(() => null);
  if (hashed?.digest !== digest) return false;
  await recordVerified(storeDir, digest, before);
  return true;
}
