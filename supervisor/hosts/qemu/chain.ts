// The checks a `qemu_layered_v0` image passes before QEMU sees it (docs/image-store.md, "Layered disk
// images"): from the head blob down, each blob is a qcow2 file whose virtual size matches its
// `.blob-virtual-size`, unencrypted, with a qcow2 backing file that resolves to the store path of
// the blob its `.lower` names (and no backing file at the bottom). `qemu-img info` output is parsed
// here; running it is the caller's job, so the logic is tested without disks.

import type { Manifest } from '../../../imagetool/index.js';
import { DIRECT_BOOT_ATTR, QEMU_LAYERED_ATTR } from '../../../protocol/image-manifest.js';
import { isObject } from '../../../protocol/validation.js';

export { DIRECT_BOOT_ATTR, QEMU_LAYERED_ATTR };

/** Why an image's layer chain cannot be booted: not a layered image at all, or an inconsistent one. */
export class ChainError extends Error {
  constructor(
    message: string,
    readonly kind: 'ImageNotCompatible' | 'ImageInvalid' = 'ImageInvalid',
  ) {
    super(message);
  }
}

export interface Qcow2Info {
  filename: string;
  format: string;
  virtualSize: number;
  encrypted: boolean;
  corrupt: boolean;
  backingFilename: string | null;
  fullBackingFilename: string | null;
  backingFormat: string | null;
  /** `children` (QEMU >= 8 reports the node's children); null when the field is absent. */
  children: Array<{ filename: string | null; childCount: number }> | null;
}

function optString(obj: Record<string, unknown>, key: string): string | null {
  const v = obj[key];
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string') throw new ChainError(`qemu-img info: "${key}" is not a string`);
  return v;
}

/** Parses `qemu-img info --output=json` for one image (not --backing-chain). */
export function parseQemuImgInfo(value: unknown): Qcow2Info {
  if (!isObject(value)) throw new ChainError('qemu-img info did not print a JSON object');
  const filename = optString(value, 'filename');
  const format = optString(value, 'format');
  const size = value['virtual-size'];
  if (filename === null || format === null) throw new ChainError('qemu-img info: no filename or format');
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0)
    throw new ChainError('qemu-img info: "virtual-size" is not a non-negative integer');
  const specific = value['format-specific'];
  const data = isObject(specific) && isObject(specific.data) ? specific.data : {};
  let children: Qcow2Info['children'] = null;
  if (value.children !== undefined) {
    if (!Array.isArray(value.children)) throw new ChainError('qemu-img info: "children" is not an array');
    children = value.children.map((child: unknown) => {
      const info = isObject(child) && isObject(child.info) ? child.info : {};
      const grand = Array.isArray(info.children) ? info.children.length : 0;
      return { filename: typeof info.filename === 'string' ? info.filename : null, childCount: grand };
    });
  }
  return {
    filename,
    format,
    virtualSize: size,
    encrypted: value.encrypted === true || isObject(data.encrypt),
    corrupt: data.corrupt === true,
    backingFilename: optString(value, 'backing-filename'),
    fullBackingFilename: optString(value, 'full-backing-filename'),
    backingFormat: optString(value, 'backing-filename-format'),
    children,
  };
}

export interface ChainDeps {
  /** The store path of a blob. */
  blobPath(digest: string): string;
  /** Canonical path; rejects when the file does not exist. */
  realpath(path: string): Promise<string>;
  /** `qemu-img info --format=qcow2 --output=json PATH`, parsed; rejects with a one-line reason. */
  info(path: string): Promise<Qcow2Info>;
}

export interface CheckedChain {
  /** Canonical path of the head blob: the per-job overlay's backing file. */
  headPath: string;
  virtualSize: number;
  /** Blob names from the head down. */
  layers: string[];
}

/** Runs the chain checks; throws a ChainError whose message names the layer and the problem. */
export async function checkChain(manifest: Manifest, deps: ChainDeps, maxBytes: number): Promise<CheckedChain> {
  const head = manifest.attrs[QEMU_LAYERED_ATTR.head];
  if (head === undefined)
    throw new ChainError(
      `the image has no ${QEMU_LAYERED_ATTR.head} attribute: it is not a qemu_layered_v0 image`,
      'ImageNotCompatible',
    );
  const layers: string[] = [];
  let current = head;
  let top: CheckedChain | null = null;
  for (;;) {
    if (layers.includes(current)) throw new ChainError(`layer ${current} appears twice in the chain (a cycle)`);
    layers.push(current);
    const blob = manifest.blobs[current];
    if (blob === undefined) throw new ChainError(`the chain names blob ${current}, which the image does not have`);
    const path = await deps.realpath(deps.blobPath(blob.digest)).catch(() => {
      throw new ChainError(`layer ${current}: blob file ${deps.blobPath(blob.digest)} is missing`);
    });
    const info = await deps.info(path).catch((err: unknown) => {
      throw new ChainError(`layer ${current}: not a usable qcow2 file (${(err as Error).message})`);
    });
    if (info.format !== 'qcow2') throw new ChainError(`layer ${current}: format is ${info.format}, not qcow2`);
    if (info.children !== null) {
      const [child] = info.children;
      if (info.children.length !== 1 || child!.childCount !== 0)
        throw new ChainError(`layer ${current}: qemu-img reports other than exactly one child node`);
      if (child!.filename !== null && child!.filename !== info.filename)
        throw new ChainError(`layer ${current}: its child node's file differs from the blob file`);
    }
    const attr = blob.attrs[QEMU_LAYERED_ATTR.virtualSize];
    if (attr === undefined || !/^[0-9]{1,16}$/.test(attr))
      throw new ChainError(`layer ${current}: missing or invalid ${QEMU_LAYERED_ATTR.virtualSize} attribute`);
    if (Number(attr) !== info.virtualSize)
      throw new ChainError(
        `layer ${current}: virtual size ${info.virtualSize} bytes differs from the manifest's ${attr} bytes`,
      );
    if (info.encrypted) throw new ChainError(`layer ${current}: the qcow2 file is encrypted`);
    if (info.corrupt) throw new ChainError(`layer ${current}: the qcow2 file is marked corrupt`);
    if (info.backingFormat !== null && info.backingFormat !== 'qcow2')
      throw new ChainError(`layer ${current}: backing file format is ${info.backingFormat}, not qcow2`);
    top ??= { headPath: path, virtualSize: info.virtualSize, layers };

    const lower = blob.attrs[QEMU_LAYERED_ATTR.lower];
    if (lower === undefined) {
      if (info.backingFilename !== null || info.fullBackingFilename !== null)
        throw new ChainError(`layer ${current} is the bottom layer (no .lower) but has a backing file`);
      break;
    }
    const lowerBlob = manifest.blobs[lower];
    if (lowerBlob === undefined)
      throw new ChainError(`layer ${current}: its .lower names blob ${lower}, which is missing`);
    if (info.fullBackingFilename === null)
      throw new ChainError(`layer ${current} should lie on ${lower}, but its qcow2 file has no backing file`);
    const expected = await deps.realpath(deps.blobPath(lowerBlob.digest)).catch(() => {
      throw new ChainError(`layer ${lower}: blob file ${deps.blobPath(lowerBlob.digest)} is missing`);
    });
    const actual = await deps.realpath(info.fullBackingFilename).catch(() => {
      throw new ChainError(`layer ${current}: its backing file ${info.fullBackingFilename} does not exist`);
    });
    if (actual !== expected)
      throw new ChainError(
        `layer ${current}: its backing file is ${actual}, not the store path of ${lower} (${expected})`,
      );
    current = lower;
  }
  if (top.virtualSize > maxBytes)
    throw new ChainError(
      `the image's disk (${top.virtualSize} bytes) is larger than working_disk_max_bytes (${maxBytes} bytes)`,
      'ImageNotCompatible',
    );
  return top;
}

export interface DirectBoot {
  kernel: string;
  initrd: string | null;
  cmdline: string;
}

/** The image's direct-boot files (our extension), or null when it offers none. */
export function directBoot(manifest: Manifest, blobPath: (digest: string) => string): DirectBoot | null {
  const kernel = manifest.attrs[DIRECT_BOOT_ATTR.kernel];
  if (kernel === undefined) return null;
  const blob = (name: string) => {
    const b = manifest.blobs[name];
    if (b === undefined)
      throw new ChainError(`${DIRECT_BOOT_ATTR.kernel}/.initrd names blob ${name}, which is missing`);
    return blobPath(b.digest);
  };
  const initrd = manifest.attrs[DIRECT_BOOT_ATTR.initrd];
  return {
    kernel: blob(kernel),
    initrd: initrd === undefined ? null : blob(initrd),
    cmdline: manifest.attrs[DIRECT_BOOT_ATTR.cmdline] ?? 'console=ttyS0',
  };
}
