import { lstat, mkdir, readFile, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { COMPRESSION_ATTR } from '../protocol/image-manifest.js';
import { attempt } from '../protocol/validation.js';
import { addBlob } from './blob-writer.js';
import { sha256Hex, type ProgressFn } from './digest.js';
import { describeFsError, ImageToolError } from './errors.js';
import { serializeManifest, validateManifest, type BlobSpec, type Manifest } from './manifest.js';
import { blobPath, blobRelPath, IMAGE_TXT, imagePath, imageRelPath } from './paths.js';
import { asWriter } from './store-markers.js';
import { addDirBlob, listTree, type Compression, type TreeEntry } from './tar-dir.js';
import { removeStaleTemps, writeFileAtomic } from './temp-files.js';

/** A blob is a file, or a directory packed into a reproducible tar (see tar-dir.ts), maybe compressed. */
export type BlobSource = { attrs?: Record<string, string> } & (
  { path: string; dir?: undefined } | { dir: string; compression?: Compression; path?: undefined }
);

export interface CreateInput {
  label: string;
  revision?: number;
  description?: string;
  attrs?: Record<string, string>;
  blobs: Record<string, BlobSource>;
}

export interface WriteOptions {
  /** called with the total number of bytes to hash, before any is read */
  onStart?: (totalBytes: number) => void;
  onProgress?: ProgressFn;
  /** called once with a running gc's pid when the command has to wait for that gc to finish */
  onWaitForGc?: (gcPid: number) => void;
  /** mtime of every entry of a directory blob, seconds since 1970 (SOURCE_DATE_EPOCH); default 0 */
  sourceDateEpoch?: number;
}

/** A blob's attributes as stored: the given ones, plus the compression of a compressed directory blob. */
function blobAttrs(name: string, b: BlobSource): Record<string, string> {
  const attrs = b.attrs ?? {};
  if (b.dir === undefined || b.compression === undefined) return attrs;
  const given = attrs[COMPRESSION_ATTR];
  if (given !== undefined && given !== b.compression)
    throw new ImageToolError(
      `blob ${name}: attribute ${COMPRESSION_ATTR} = ${JSON.stringify(given)} contradicts --zstd`,
    );
  return { ...attrs, [COMPRESSION_ATTR]: b.compression };
}

const PLACEHOLDER_DIGEST = '0'.repeat(64);

/** Our own input (flags, a spec file) checked against the format: a breach is the user's to fix. */
function checked<T>(check: () => T): T {
  const r = attempt(check);
  if (!r.ok) throw new ImageToolError(r.error.message);
  return r.value;
}

/**
 * The last check before a manifest is written: every blob it names is in the store with its size. The
 * writer marker keeps gc away; this catches anything else (a hand-run rm, a gc from an older version)
 * before a manifest that points at nothing is recorded.
 */
export async function checkBlobsPresent(storeDir: string, manifest: Manifest): Promise<void> {
  for (const [name, b] of Object.entries(manifest.blobs)) {
    const st = await lstat(blobPath(storeDir, b.digest)).catch(() => null);
    if (!st?.isFile())
      throw new ImageToolError(
        `blob ${name} (${blobRelPath(b.digest)}) is no longer in the store; no manifest written, run the command again`,
      );
    if (st.size !== b.size)
      throw new ImageToolError(
        `blob ${name} (${blobRelPath(b.digest)}) is ${st.size} bytes, expected ${b.size}; no manifest written`,
      );
  }
}

/**
 * Stores manifest bytes under their image ID. A copy already there is kept only when its bytes hash to
 * the ID (manifests are immutable); anything else under that name is replaced atomically.
 */
export async function putManifest(storeDir: string, id: string, bytes: Uint8Array): Promise<boolean> {
  const path = imagePath(storeDir, id);
  const there = await lstat(path).catch(() => null);
  if (there?.isFile() && there.size === bytes.length) {
    const current = await readFile(path).catch(() => null);
    if (current !== null && sha256Hex(current) === id) return false;
  }
  try {
    await mkdir(dirname(path), { recursive: true });
    await writeFileAtomic(path, bytes);
  } catch (err) {
    throw describeFsError(err, 'write manifest', imageRelPath(id));
  }
  return true;
}

/** Stores a manifest (see putManifest) and points image.txt at it. Returns the image ID. */
export async function storeManifest(storeDir: string, manifest: Manifest): Promise<string> {
  const text = checked(() => serializeManifest(manifest));
  await checkBlobsPresent(storeDir, manifest);
  const bytes = Buffer.from(text, 'utf8');
  const id = sha256Hex(bytes);
  await putManifest(storeDir, id, bytes);
  await writeFileAtomic(join(storeDir, IMAGE_TXT), `${id}\n`).catch((err: unknown) => {
    throw describeFsError(err, 'write', join(storeDir, IMAGE_TXT));
  });
  return id;
}

/** Adds the blobs and a canonical manifest to the store, writes image.txt, returns the image ID. */
export async function createImage(storeDir: string, input: CreateInput, opts: WriteOptions = {}): Promise<string> {
  const entries = Object.entries(input.blobs);
  const draft: Manifest = {
    label: input.label,
    revision: input.revision ?? 0,
    description: input.description ?? '',
    attrs: input.attrs ?? {},
    blobs: Object.fromEntries(
      entries.map(([name, b]) => [name, { digest: PLACEHOLDER_DIGEST, size: 0, attrs: blobAttrs(name, b) }]),
    ),
  };
  // Every limit is checked, and every directory listed, before the first byte is written, so bad input
  // (an over-long label, a hard link in a blob directory) leaves the store untouched.
  checked(() => validateManifest(draft));
  let total = 0;
  const trees = new Map<string, TreeEntry[]>();
  for (const [name, b] of entries) {
    if (b.dir !== undefined) {
      const tree = await listTree(b.dir);
      trees.set(name, tree);
      total += tree.reduce((n, e) => n + e.size, 0);
      continue;
    }
    const st = await stat(b.path).catch((err: unknown) => {
      throw describeFsError(err, `read blob ${name} from`, b.path);
    });
    if (st.isDirectory())
      throw new ImageToolError(`cannot read blob ${name} from ${b.path}: is a directory (pack it with --blob-dir)`);
    total += st.size;
  }
  await mkdir(storeDir, { recursive: true }).catch((err: unknown) => {
    throw describeFsError(err, 'create store', storeDir);
  });
  return asWriter(
    storeDir,
    async () => {
      await removeStaleTemps(storeDir);
      opts.onStart?.(total);
      const blobs: Array<[string, BlobSpec]> = [];
      for (const [name, b] of entries) {
        const added =
          b.dir !== undefined
            ? await addDirBlob(storeDir, b.dir, trees.get(name)!, {
                mtime: opts.sourceDateEpoch ?? 0,
                compression: b.compression,
                onProgress: opts.onProgress,
              })
            : await addBlob(storeDir, b.path, { onProgress: opts.onProgress });
        blobs.push([name, { digest: added.digest, size: added.size, attrs: draft.blobs[name]!.attrs }]);
      }
      return storeManifest(storeDir, { ...draft, blobs: Object.fromEntries(blobs) });
    },
    opts.onWaitForGc,
  );
}
