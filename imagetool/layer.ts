import { execFile } from 'node:child_process';
import { copyFile, open, stat, unlink } from 'node:fs/promises';
import { promisify } from 'node:util';
import { blobTempDir, commitBlob } from './blob-writer.js';
import { hashFile, type ProgressFn } from './digest.js';
import { describeFsError, ImageToolError } from './errors.js';
import { storeManifest } from './create.js';
import { ManifestError, validateManifest, type Manifest } from './manifest.js';
import { blobRelativeFromBlob } from './paths.js';
import { parseQcow2Header } from './qcow2.js';
import { readManifest } from './store.js';
import { asWriter } from './store-markers.js';
import { newTempPath, removeStaleTemps } from './temp-files.js';

const run = promisify(execFile);

const QEMU_NS = 'org.tockos.treadmill.image.qemu_layered_v0';
export const QEMU_ATTR = {
  head: `${QEMU_NS}.head`,
  lower: `${QEMU_NS}.lower`,
  virtualSize: `${QEMU_NS}.blob-virtual-size`,
} as const;

export interface LayerInput {
  baseId: string;
  overlayPath: string;
  label: string;
  revision?: number;
  description?: string;
}

/** The manifest of the layered image: the base's, plus layer-N+1 on top (pure; spec "Layered disk images"). */
export function layeredManifest(
  base: Manifest,
  input: { label: string; revision: number; description: string },
  blob: { digest: string; size: number; virtualSize: number },
): { manifest: Manifest; layerName: string } {
  const head = base.attrs[QEMU_ATTR.head];
  if (head === undefined)
    throw new ImageToolError(`base image has no ${QEMU_ATTR.head} attribute: not a layered QEMU image`);
  const m = /^layer-(\d+)$/.exec(head);
  if (!m) throw new ImageToolError(`base image head ${JSON.stringify(head)} is not named layer-N`);
  if (!Object.hasOwn(base.blobs, head)) throw new ImageToolError(`base image head ${head} is not one of its blobs`);
  const layerName = `layer-${Number(m[1]) + 1}`;
  if (Object.hasOwn(base.blobs, layerName)) throw new ImageToolError(`base image already has a blob ${layerName}`);
  return {
    layerName,
    manifest: {
      label: input.label,
      revision: input.revision,
      description: input.description,
      attrs: { ...base.attrs, [QEMU_ATTR.head]: layerName },
      blobs: {
        ...base.blobs,
        [layerName]: {
          digest: blob.digest,
          size: blob.size,
          attrs: { [QEMU_ATTR.lower]: head, [QEMU_ATTR.virtualSize]: String(blob.virtualSize) },
        },
      },
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
  opts: { onStart?: (n: number) => void; onProgress?: ProgressFn; onWaitForGc?: (gcPid: number) => void } = {},
): Promise<string> {
  const qemuImg = 'qemu-img';
  const base = await readManifest(storeDir, input.baseId);
  const header = parseQcow2Header(await readHead(input.overlayPath));
  if (!header) throw new ImageToolError(`${input.overlayPath} is not a qcow2 image`);
  const draft = { label: input.label, revision: input.revision ?? 0, description: input.description ?? '' };
  // Validate the whole result (head naming, limits) before copying anything into the store.
  const lowerName = base.attrs[QEMU_ATTR.head];
  try {
    validateManifest(
      layeredManifest(base, draft, { digest: '0'.repeat(64), size: 0, virtualSize: header.virtualSize }).manifest,
    );
  } catch (err) {
    if (err instanceof ManifestError) throw new ImageToolError(err.message);
    throw err;
  }
  const lower = base.blobs[lowerName!]!;

  const qemu = async (args: string[]): Promise<void> => {
    try {
      await run(qemuImg, args);
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
        const { manifest } = layeredManifest(base, draft, { digest, size, virtualSize: header.virtualSize });
        await commitBlob(storeDir, temp, digest, size);
        return await storeManifest(storeDir, manifest);
      } finally {
        await unlink(temp).catch(() => {});
      }
    },
    opts.onWaitForGc,
  );
}
