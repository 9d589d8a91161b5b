import { execFile } from 'node:child_process';
import { copyFile, open, stat, unlink } from 'node:fs/promises';
import { promisify } from 'node:util';
import { blobTempDir, commitBlob } from './blob-writer.js';
import { hashFile, type ProgressFn } from './digest.js';
import { describeFsError, ImageToolError } from './errors.js';
import { storeManifest } from './create.js';
import { validateManifest, type BlobSpec, type Manifest } from './manifest.js';
import { layeredScheme, NBD_SCHEME, QEMU_SCHEME, topBlobName } from './chain.js';
import { COMPRESSION_ATTR } from '../protocol/image-manifest.js';
import { attempt } from '../protocol/validation.js';
import { addDirBlob, listTree, type Compression } from './tar-dir.js';
import { blobRelativeFromBlob } from './paths.js';
import { parseQcow2Header } from './qcow2.js';
import { readManifest } from './store.js';
import { asWriter } from './store-markers.js';
import { newTempPath, removeStaleTemps } from './temp-files.js';

export interface LayerInput {
  baseId: string;
  overlayPath: string;
  label: string;
  revision?: number;
  description?: string;
  /** netboot images: the new layer's boot partition, packed as a reproducible tar (else the base's is kept) */
  bootDir?: string;
  bootCompression?: Compression;
}

/**
 * The manifest of the layered image (pure; docs/image-store.md, "Layered disk images"): the base's, plus layer N+1 on top.
 * QEMU images get blob `layer-N+1` on `layer-N`; netboot images get `layer-N+1-root` on `layer-N-root`
 * and `layer-N+1-boot`, the given boot blob or, without one, the base's `layer-N-boot` carried over.
 * `.head` moves to the new layer.
 */
export function layeredManifest(
  base: Manifest,
  input: { label: string; revision: number; description: string },
  blob: { digest: string; size: number; virtualSize: number },
  boot?: BlobSpec,
): { manifest: Manifest; layerName: string } {
  const s = layeredScheme(base);
  if (s === null)
    throw new ImageToolError(
      `base image has no ${QEMU_SCHEME.head} or ${NBD_SCHEME.head} attribute: not a layered QEMU or netboot image`,
    );
  if (s.kind === 'qemu' && boot !== undefined)
    throw new ImageToolError('a boot directory belongs to netboot images; the base is a QEMU image');
  const head = base.attrs[s.head]!;
  const m = /^layer-(\d+)$/.exec(head);
  if (!m) throw new ImageToolError(`base image head ${JSON.stringify(head)} is not named layer-N`);
  const lowerRoot = topBlobName(base, s);
  if (!Object.hasOwn(base.blobs, lowerRoot))
    throw new ImageToolError(`base image head ${lowerRoot} is not one of its blobs`);
  const layerName = `layer-${Number(m[1]) + 1}`;
  const added: Record<string, BlobSpec> = {};
  const rootSpec = {
    digest: blob.digest,
    size: blob.size,
    attrs: { [s.lower]: lowerRoot, [s.virtualSize]: String(blob.virtualSize) },
  };
  if (s.kind === 'qemu') added[layerName] = rootSpec;
  else {
    const lowerBoot = `${head}-boot`;
    const carried = Object.hasOwn(base.blobs, lowerBoot) ? base.blobs[lowerBoot] : undefined;
    if (boot === undefined && carried === undefined)
      throw new ImageToolError(`base image has no blob ${lowerBoot} to carry over; give --boot-dir`);
    added[`${layerName}-root`] = rootSpec;
    added[`${layerName}-boot`] = boot ?? carried!;
  }
  for (const name of Object.keys(added))
    if (Object.hasOwn(base.blobs, name)) throw new ImageToolError(`base image already has a blob ${name}`);
  return {
    layerName,
    manifest: {
      label: input.label,
      revision: input.revision,
      description: input.description,
      attrs: { ...base.attrs, [s.head]: layerName },
      blobs: { ...base.blobs, ...added },
    },
  };
}

async function readHead(path: string): Promise<Buffer> {
  const fh = await open(path, 'r').catch((err: unknown) => {
    throw describeFsError(err, 'read', path);
  });
  try {
    const buf = Buffer.alloc(32);
    const { bytesRead } = await fh.read(buf, 0, 32, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/**
 * Builds an overlay image on a base image in the same store. The user's qcow2 file is never modified:
 * a copy inside the store is rebased (`qemu-img rebase -u`, header only) so its backing file is the lower
 * blob's store-relative path, then hashed and renamed to its digest path.
 */
export async function layerImage(
  storeDir: string,
  input: LayerInput,
  opts: {
    onStart?: (n: number) => void;
    onProgress?: ProgressFn;
    onWaitForGc?: (gcPid: number) => void;
    /** mtime of the boot tar's entries (SOURCE_DATE_EPOCH), default 0 */
    sourceDateEpoch?: number;
  } = {},
): Promise<string> {
  const qemuImg = 'qemu-img';
  const base = await readManifest(storeDir, input.baseId);
  const header = parseQcow2Header(await readHead(input.overlayPath));
  if (!header) throw new ImageToolError(`${input.overlayPath} is not a qcow2 image`);
  const draft = { label: input.label, revision: input.revision ?? 0, description: input.description ?? '' };
  const bootAttrs: Record<string, string> =
    input.bootCompression === undefined ? {} : { [COMPRESSION_ATTR]: input.bootCompression };
  const placeholder = { digest: '0'.repeat(64), size: 0 };
  // Validate the whole result (head naming, limits, the boot tree) before copying anything into the store.
  const planned = layeredManifest(
    base,
    draft,
    { ...placeholder, virtualSize: header.virtualSize },
    input.bootDir === undefined ? undefined : { ...placeholder, attrs: bootAttrs },
  );
  const valid = attempt(() => validateManifest(planned.manifest));
  if (!valid.ok) throw new ImageToolError(valid.error.message);
  const lowerRoot = topBlobName(base, layeredScheme(base)!);
  const bootTree = input.bootDir === undefined ? undefined : await listTree(input.bootDir);
  const lower = base.blobs[lowerRoot]!;

  const qemu = async (args: string[]): Promise<void> => {
    try {
      // promisified here: at the top level it would load node:child_process for every command
      await promisify(execFile)(qemuImg, args);
    } catch (err) {
      const e = err as NodeJS.ErrnoException & { stderr?: string };
      if (e.code === 'ENOENT')
        throw new ImageToolError(`${qemuImg} not found: install qemu-img (Debian/Ubuntu: apt-get install qemu-utils)`);
      throw new ImageToolError(`qemu-img ${args[0]} failed: ${(e.stderr || e.message).trim().split('\n')[0]}`);
    }
  };
  await qemu(['--version']); // fail before copying a possibly large file

  return asWriter(
    storeDir,
    async () => {
      await removeStaleTemps(storeDir);
      let boot: BlobSpec | undefined;
      if (input.bootDir !== undefined) {
        const added = await addDirBlob(storeDir, input.bootDir, bootTree!, {
          mtime: opts.sourceDateEpoch ?? 0,
          compression: input.bootCompression,
        });
        boot = { digest: added.digest, size: added.size, attrs: bootAttrs };
      }
      const temp = newTempPath(await blobTempDir(storeDir));
      try {
        await copyFile(input.overlayPath, temp).catch((err: unknown) => {
          throw describeFsError(err, 'copy', input.overlayPath);
        });
        await qemu(['rebase', '-u', '-b', blobRelativeFromBlob(lower.digest), '-F', 'qcow2', temp]);
        const fh = await open(temp, 'r+');
        try {
          await fh.sync();
        } finally {
          await fh.close();
        }
        opts.onStart?.((await stat(temp)).size);
        const { digest, size } = await hashFile(temp, opts.onProgress);
        const { manifest } = layeredManifest(base, draft, { digest, size, virtualSize: header.virtualSize }, boot);
        await commitBlob(storeDir, temp, digest, size);
        return await storeManifest(storeDir, manifest);
      } finally {
        await unlink(temp).catch(() => {});
      }
    },
    opts.onWaitForGc,
  );
}
