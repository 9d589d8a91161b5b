import { lstat, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { identityOf, isVerified, recordVerified, type FileIdentity } from './blob-cache.js';
import { checkImageChain, layeredScheme } from './chain.js';
import { QemuImgMissingError } from './errors.js';
import { sha256Hex, type ProgressFn } from './digest.js';
import { HashPool, type HashOutcome } from './hash-pool.js';
import { attempt } from '../protocol/validation.js';
import { parseManifest, type Manifest } from './manifest.js';
import { BLOBS_DIR, blobRelPath, DIGEST_RE, IMAGES_DIR, imageRelPath, isTempName, shardParts } from './paths.js';
import { isStaleTemp } from './temp-files.js';
import { walkTree, type TreeEntry } from './tree-walk.js';

export const FINDING_KINDS = {
  'blob-digest-mismatch': 'a blob whose content does not hash to its name',
  'blob-size-mismatch': 'a blob whose size differs from what a manifest says',
  'blob-missing': 'a blob a manifest needs is not in the store',
  'manifest-digest-mismatch': 'a manifest whose bytes do not hash to its name',
  'manifest-invalid': 'a manifest that is not valid (TOML, base extension, limits, digests)',
  misplaced: "a file named by a digest but not in that digest's shard directory",
  'not-a-digest': 'a file under blobs/ or images/ whose name is not a digest',
  'not-a-regular-file': 'a symlink, device, socket or FIFO where a file belongs (all.txt lists regular files only)',
  'qcow2-chain': "a layered image whose qcow2 chain fails the check upstream's supervisors run before booting",
  'temp-leftover': 'a temporary file left by a writer that died',
  unreadable: 'a file that cannot be read (permissions, I/O error)',
} as const;

export type FindingKind = keyof typeof FINDING_KINDS;
export interface Finding {
  kind: FindingKind;
  path: string;
  message: string;
}

export interface VerifyReport {
  findings: Finding[];
  images: number;
  /** blobs hashed, and their bytes */
  blobs: number;
  bytes: number;
  /** blobs taken as sound from the verified-blob cache (only with trustCache), and their bytes */
  cachedBlobs: number;
  cachedBytes: number;
  /** layered images whose qcow2 chain was checked */
  chains: number;
  /** why chains were not checked (qemu-img missing), when they were not */
  chainsSkipped?: string;
}

export interface VerifyOptions {
  onStart?: (totalBytes: number) => void;
  onProgress?: ProgressFn;
  /** skip hashing blobs the verified-blob cache vouches for (unchanged since they last matched) */
  trustCache?: boolean;
  /** check the qcow2 chains of layered images with qemu-img (default true) */
  chains?: boolean;
  qemuImg?: string;
}

const LEFTOVER_MESSAGE = 'temporary file of a writer that is gone; `gc` or the next write removes it';
/** A store is what `find -type f` lists (all.txt), so a symlinked blob would be missing on every mirror. */
const SYMLINK_MESSAGE =
  'a symlink: all.txt lists regular files only, so mirrors would not get it; replace the link with a copy of its target';

interface BlobRef {
  imageId: string;
  name: string;
  size: number;
}

/** Classifies one file found under blobs/ or images/ by its place in the shard tree. */
export function classifyStorePath(
  rel: string,
): { kind: 'content'; digest: string } | { kind: 'misplaced' | 'not-a-digest' } {
  const parts = rel.split('/');
  const name = parts[parts.length - 1]!;
  if (!DIGEST_RE.test(name)) return { kind: 'not-a-digest' };
  const expected = shardParts(name);
  const ok = parts.length === 5 && parts[1] === expected[0] && parts[2] === expected[1] && parts[3] === expected[2];
  return ok ? { kind: 'content', digest: name } : { kind: 'misplaced' };
}

function errorCode(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? String(err);
}

/**
 * Checks a store (or, with `imageIds`, just those images and their blobs) and returns every problem found,
 * by store-relative path. The store is sound when `findings` is empty.
 */
export async function verifyStore(
  storeDir: string,
  imageIds?: string[],
  opts: VerifyOptions = {},
): Promise<VerifyReport> {
  // Workers boot while the store is walked; with the cache trusted most jobs hash nothing, so none start.
  let pool: HashPool | undefined = opts.trustCache === true ? undefined : new HashPool();
  try {
    return await checkStore(storeDir, () => (pool ??= new HashPool()), imageIds, opts);
  } finally {
    await pool?.close();
  }
}

async function checkStore(
  storeDir: string,
  hashPool: () => HashPool,
  imageIds: string[] | undefined,
  opts: VerifyOptions,
): Promise<VerifyReport> {
  const findings: Finding[] = [];
  const add = (kind: FindingKind, path: string, message: string): void => {
    findings.push({ kind, path, message });
  };
  const manifests = new Set<string>();
  const blobs = new Set<string>();

  if (imageIds) {
    imageIds.forEach((id) => manifests.add(id));
  } else {
    for (const top of [BLOBS_DIR, IMAGES_DIR]) {
      const entries: TreeEntry[] = [];
      walkTree(storeDir, top, (e) => entries.push(e));
      for (const e of entries) {
        if (isTempName(e.name)) {
          const st = await stat(join(storeDir, e.rel)).catch(() => null);
          if (st && isStaleTemp(e.name, st.mtimeMs)) add('temp-leftover', e.rel, LEFTOVER_MESSAGE);
          continue;
        }
        const place = classifyStorePath(e.rel);
        if (place.kind !== 'content') {
          add(
            place.kind,
            e.rel,
            place.kind === 'misplaced'
              ? `belongs at ${(top === BLOBS_DIR ? blobRelPath : imageRelPath)(e.name)}`
              : 'name is not a lower-case hex SHA-256 digest',
          );
          continue;
        }
        if (e.kind !== 'file') {
          add('not-a-regular-file', e.rel, e.kind === 'symlink' ? SYMLINK_MESSAGE : 'not a regular file');
          continue;
        }
        (top === BLOBS_DIR ? blobs : manifests).add(place.digest);
      }
    }
    // Temp files of the root (image.txt / all.txt writers) are leftovers too.
    for (const e of await readdir(storeDir, { withFileTypes: true }).catch(() => [])) {
      if (!e.isFile() || !isTempName(e.name)) continue;
      const st = await stat(join(storeDir, e.name)).catch(() => null);
      if (st && isStaleTemp(e.name, st.mtimeMs)) add('temp-leftover', e.name, LEFTOVER_MESSAGE);
    }
  }

  const refs = new Map<string, BlobRef[]>();
  const layered: Array<{ id: string; manifest: Manifest }> = [];
  for (const id of [...manifests].sort()) {
    const rel = imageRelPath(id);
    if (imageIds) {
      const st = await lstat(join(storeDir, rel)).catch(() => null);
      if (st !== null && !st.isFile()) {
        add('not-a-regular-file', rel, st.isSymbolicLink() ? SYMLINK_MESSAGE : 'not a regular file');
        continue;
      }
    }
    let bytes: Buffer;
    try {
      bytes = await readFile(join(storeDir, rel));
    } catch (err) {
      if (errorCode(err) === 'ENOENT') add('manifest-invalid', rel, 'manifest file does not exist');
      else add('unreadable', rel, `cannot read: ${errorCode(err)}`);
      continue;
    }
    if (sha256Hex(bytes) !== id) add('manifest-digest-mismatch', rel, `manifest bytes hash to ${sha256Hex(bytes)}`);
    const parsed = attempt(() => parseManifest(bytes));
    if (!parsed.ok) {
      add('manifest-invalid', rel, parsed.error.message);
      continue;
    }
    const manifest = parsed.value;
    try {
      if (layeredScheme(manifest) !== null) layered.push({ id, manifest });
    } catch (err) {
      add('qcow2-chain', rel, (err as Error).message);
    }
    for (const [name, b] of Object.entries(manifest.blobs)) {
      const list = refs.get(b.digest) ?? [];
      list.push({ imageId: id, name, size: b.size });
      refs.set(b.digest, list);
    }
  }

  // Sizes first: a missing or short blob is reported without reading it.
  const toHash: Array<{ digest: string; path: string; size: number; identity: FileIdentity }> = [];
  let cachedBlobs = 0;
  let cachedBytes = 0;
  const candidates = imageIds ? [...refs.keys()] : [...new Set([...blobs, ...refs.keys()])];
  for (const digest of candidates.sort()) {
    const rel = blobRelPath(digest);
    const st = await lstat(join(storeDir, rel), { bigint: true }).catch((err: unknown) => err as NodeJS.ErrnoException);
    if (st instanceof Error) {
      if (st.code === 'ENOENT') {
        for (const r of refs.get(digest) ?? [])
          add('blob-missing', rel, `needed by image ${r.imageId} as blob ${r.name}`);
      } else {
        add('unreadable', rel, `cannot stat: ${st.code ?? st.message}`);
      }
      continue;
    }
    if (!st.isFile()) {
      // A whole-store check named it while walking the tree.
      if (imageIds) add('not-a-regular-file', rel, st.isSymbolicLink() ? SYMLINK_MESSAGE : 'not a regular file');
      continue;
    }
    const size = Number(st.size);
    for (const r of refs.get(digest) ?? []) {
      if (r.size !== size)
        add('blob-size-mismatch', rel, `is ${size} bytes, image ${r.imageId} says blob ${r.name} is ${r.size}`);
    }
    const identity = identityOf(st);
    if (opts.trustCache === true && (await isVerified(storeDir, digest, identity))) {
      cachedBlobs++;
      cachedBytes += size;
      continue;
    }
    toHash.push({ digest, path: join(storeDir, rel), size, identity });
  }

  const total = toHash.reduce((n, j) => n + j.size, 0);
  opts.onStart?.(total);
  // Each sound blob is recorded as soon as it is hashed, while the others still are.
  const sound: Array<Promise<void>> = [];
  const recordSound = (i: number, o: HashOutcome): void => {
    const job = toHash[i]!;
    if (!o.ok || o.digest !== job.digest) return;
    const recorded = recordVerified(storeDir, job.digest, job.identity);
    recorded.catch(() => {}); // awaited below, once hashing is over
    sound.push(recorded);
  };
  const outcomes = toHash.length === 0 ? [] : await hashPool().hash(toHash, opts.onProgress, recordSound);
  outcomes.forEach((o, i) => {
    const job = toHash[i]!;
    const rel = blobRelPath(job.digest);
    if (!o.ok) add('unreadable', rel, `cannot read: ${o.error}`);
    else if (o.digest !== job.digest) add('blob-digest-mismatch', rel, `content hashes to ${o.digest}`);
  });
  await Promise.all(sound);

  let chains = 0;
  let chainsSkipped: string | undefined;
  if (opts.chains !== false) {
    const absent = new Set(
      findings.filter((f) => f.kind === 'blob-missing' || f.kind === 'not-a-regular-file').map((f) => f.path),
    );
    try {
      for (const { id, manifest } of layered) {
        // A missing blob is reported as such; its chain cannot be followed.
        if (Object.values(manifest.blobs).some((b) => absent.has(blobRelPath(b.digest)))) continue;
        for (const p of await checkImageChain(storeDir, manifest, { qemuImg: opts.qemuImg }))
          add('qcow2-chain', p.path ?? imageRelPath(id), `image ${id}: ${p.message}`);
        chains++;
      }
    } catch (err) {
      if (!(err instanceof QemuImgMissingError)) throw err;
      chainsSkipped = err.message;
    }
  }

  findings.sort((a, b) =>
    a.path < b.path ? -1 : a.path > b.path ? 1 : a.kind < b.kind ? -1 : a.kind > b.kind ? 1 : 0,
  );
  return {
    findings,
    images: manifests.size,
    blobs: toHash.length,
    bytes: total,
    cachedBlobs,
    cachedBytes,
    chains,
    ...(chainsSkipped === undefined ? {} : { chainsSkipped }),
  };
}

/**
 * The check before a job: the manifest and every blob it references. With `trustCache`, blobs unchanged
 * since they last hashed to their names are not hashed again.
 */
export async function verifyImage(
  storeDir: string,
  imageId: string,
  opts: Pick<VerifyOptions, 'trustCache' | 'chains' | 'qemuImg'> = {},
): Promise<Finding[]> {
  return (await verifyStore(storeDir, [imageId], opts)).findings;
}
