import { execFile } from 'node:child_process';
import { realpath } from 'node:fs/promises';
import { promisify } from 'node:util';
import { isObject } from '../protocol/validation.js';
import { NBD_LAYERED_ATTR, QEMU_LAYERED_ATTR, type LayeredAttrs } from '../protocol/image-manifest.js';
import { ImageToolError, QemuImgMissingError } from './errors.js';
import type { Manifest } from './manifest.js';
import { blobPath, blobRelPath } from './paths.js';

/**
 * Layered qcow2 images (docs/image-store.md, "Layered disk images") and the check upstream's supervisors run on
 * their chain before booting: a blob's qcow2 header names its backing file, so an image could otherwise
 * point a VM at any file of the supervisor's machine, or at a layer other than the one its manifest says.
 */

export interface LayeredScheme extends LayeredAttrs {
  kind: 'qemu' | 'nbd';
}

export const QEMU_SCHEME: LayeredScheme = { kind: 'qemu', ...QEMU_LAYERED_ATTR };
export const NBD_SCHEME: LayeredScheme = { kind: 'nbd', ...NBD_LAYERED_ATTR };

/** The layered scheme an image uses (by its head attribute), or null for an image that has none. */
export function layeredScheme(m: Manifest): LayeredScheme | null {
  const qemu = Object.hasOwn(m.attrs, QEMU_SCHEME.head);
  const nbd = Object.hasOwn(m.attrs, NBD_SCHEME.head);
  if (qemu && nbd)
    throw new ImageToolError(`image has both ${QEMU_SCHEME.head} and ${NBD_SCHEME.head}: ambiguous layering`);
  return qemu ? QEMU_SCHEME : nbd ? NBD_SCHEME : null;
}

/** The name of the top qcow2 blob: the head itself (QEMU), or `<head>-root` (netboot, whose head is a layer label). */
export function topBlobName(m: Manifest, s: LayeredScheme): string {
  const head = m.attrs[s.head]!;
  return s.kind === 'nbd' ? `${head}-root` : head;
}

/** The fields of `qemu-img info --output=json` the check reads. */
export interface QemuImgInfo {
  filename: string;
  virtualSize: number;
  /** qemu-img 8.0 and later list the node's children; older versions omit the field */
  children?: Array<{ filename: string; children: number }>;
  encrypted: boolean;
  backingFormat?: string;
  backingFilename?: string;
  fullBackingFilename?: string;
}

type Json = Record<string, unknown>;

function optionalString(o: Json, key: string): string | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new ImageToolError(`qemu-img info: ${key} is not a string`);
  return v;
}

/** Parses qemu-img's JSON about a blob; any other shape is our one-line error. */
export function parseQemuImgInfo(text: string): QemuImgInfo {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new ImageToolError('qemu-img info: output is not JSON');
  }
  if (!isObject(doc)) throw new ImageToolError('qemu-img info: output is not a JSON object');
  const filename = optionalString(doc, 'filename');
  if (filename === undefined) throw new ImageToolError('qemu-img info: no filename');
  const size = doc['virtual-size'];
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0)
    throw new ImageToolError('qemu-img info: virtual-size is not a non-negative integer');
  const encrypted = doc.encrypted ?? false;
  if (typeof encrypted !== 'boolean') throw new ImageToolError('qemu-img info: encrypted is not a boolean');
  let children: QemuImgInfo['children'];
  if (doc.children !== undefined) {
    if (!Array.isArray(doc.children)) throw new ImageToolError('qemu-img info: children is not an array');
    children = doc.children.map((c: unknown) => {
      const info = isObject(c) ? c.info : undefined;
      if (!isObject(info) || typeof info.filename !== 'string')
        throw new ImageToolError('qemu-img info: a child without info.filename');
      const grand = info.children ?? [];
      if (!Array.isArray(grand)) throw new ImageToolError('qemu-img info: a child whose children is not an array');
      return { filename: info.filename, children: grand.length };
    });
  }
  return {
    filename,
    virtualSize: size,
    children,
    encrypted,
    backingFormat: optionalString(doc, 'backing-filename-format'),
    backingFilename: optionalString(doc, 'backing-filename'),
    fullBackingFilename: optionalString(doc, 'full-backing-filename'),
  };
}

export interface ChainProblem {
  /** the blob of the chain the problem is about */
  blob: string;
  /** its store-relative path; null when the blob is not in the manifest */
  path: string | null;
  message: string;
}

export interface ChainOptions {
  /** the qemu-img to run (default: `qemu-img` on PATH) */
  qemuImg?: string;
}

async function qemuImgInfo(qemuImg: string, path: string): Promise<QemuImgInfo> {
  try {
    // promisified here: at the top level it would load node:child_process for every command
    const { stdout } = await promisify(execFile)(qemuImg, ['info', '--format=qcow2', '--output=json', '--', path], {
      maxBuffer: 1 << 20,
    });
    return parseQemuImgInfo(stdout);
  } catch (err) {
    if (err instanceof ImageToolError) throw err;
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT')
      throw new QemuImgMissingError(
        `${qemuImg} not found: install qemu-img (Debian/Ubuntu: apt-get install qemu-utils)`,
      );
    const reason = (e.stderr || e.message)
      .trim()
      .split('\n')[0]!
      .replace(/^qemu-img: /, '');
    throw new ImageToolError(`qemu-img cannot read it as qcow2: ${reason}`);
  }
}

/**
 * Checks the qcow2 chain of a layered image from the top blob down, as upstream's QEMU and netboot
 * supervisors do before booting: each blob has exactly one child node (qemu-img 8+ reports them), its
 * virtual size equals its `.blob-virtual-size` attribute, it is not encrypted, its backing format (if any)
 * is qcow2, and its backing file resolves to the store path of the blob its `.lower` attribute names, or
 * it has no backing file at all when there is no `.lower`. Returns the problems found (none: sound); an
 * image without a layered head attribute has no chain and no problems.
 */
export async function checkImageChain(
  storeDir: string,
  manifest: Manifest,
  opts: ChainOptions = {},
): Promise<ChainProblem[]> {
  const s = layeredScheme(manifest);
  if (s === null) return [];
  const qemuImg = opts.qemuImg ?? 'qemu-img';
  const problems: ChainProblem[] = [];
  const seen = new Set<string>();
  let name = topBlobName(manifest, s);
  let via = `${s.head} (${JSON.stringify(manifest.attrs[s.head])})`;
  for (;;) {
    const spec = Object.hasOwn(manifest.blobs, name) ? manifest.blobs[name] : undefined;
    if (spec === undefined) {
      problems.push({ blob: name, path: null, message: `the image has no blob ${name}, named by ${via}` });
      break;
    }
    const path = blobRelPath(spec.digest);
    const problem = (message: string): void => {
      problems.push({ blob: name, path, message: `blob ${name}: ${message}` });
    };
    if (seen.has(name)) {
      problem(`the chain of ${s.lower} attributes loops back to it`);
      break;
    }
    seen.add(name);
    const file = await realpath(blobPath(storeDir, spec.digest)).catch(() => null);
    if (file === null) {
      problem('not in the store');
      break;
    }
    let info: QemuImgInfo;
    try {
      info = await qemuImgInfo(qemuImg, file);
    } catch (err) {
      if (err instanceof QemuImgMissingError) throw err;
      problem((err as Error).message);
      break;
    }
    if (info.children !== undefined) {
      const c = info.children;
      if (c.length !== 1 || c[0]!.children !== 0)
        problem(`qemu-img reports ${c.length} child nodes (with their own children), not exactly one`);
      else if (c[0]!.filename !== info.filename)
        problem(`its child node is ${JSON.stringify(c[0]!.filename)}, not the blob itself`);
    }
    const attr = spec.attrs[s.virtualSize];
    if (attr === undefined) problem(`no ${s.virtualSize} attribute`);
    else if (!/^\d{1,20}$/.test(attr)) problem(`${s.virtualSize} ${JSON.stringify(attr)} is not a byte count`);
    else if (BigInt(attr) !== BigInt(info.virtualSize))
      problem(`virtual size is ${info.virtualSize} bytes, ${s.virtualSize} says ${attr}`);
    if (info.encrypted) problem('the qcow2 image is encrypted');
    if (info.backingFormat !== undefined && info.backingFormat !== 'qcow2')
      problem(`backing format is ${JSON.stringify(info.backingFormat)}, only qcow2 is allowed`);

    const lowerName = spec.attrs[s.lower];
    if (lowerName === undefined) {
      if (info.backingFilename !== undefined || info.fullBackingFilename !== undefined)
        problem(
          `has no ${s.lower} attribute but its backing file is ${JSON.stringify(info.backingFilename ?? info.fullBackingFilename)}`,
        );
      break;
    }
    const lower = Object.hasOwn(manifest.blobs, lowerName) ? manifest.blobs[lowerName] : undefined;
    if (lower === undefined) {
      problem(`${s.lower} names ${JSON.stringify(lowerName)}, which is not a blob of the image`);
      break;
    }
    const expected = await realpath(blobPath(storeDir, lower.digest)).catch(() => blobPath(storeDir, lower.digest));
    if (info.fullBackingFilename === undefined) {
      problem(`${s.lower} is ${lowerName} but the qcow2 image has no backing file`);
    } else {
      const actual = await realpath(info.fullBackingFilename).catch(() => null);
      if (actual !== expected)
        problem(
          `backing file ${JSON.stringify(info.backingFilename ?? info.fullBackingFilename)} ${actual === null ? 'does not exist' : `is ${actual}`}, not blob ${lowerName} (${blobRelPath(lower.digest)})`,
        );
    }
    via = `${s.lower} of blob ${name}`;
    name = lowerName;
  }
  return problems;
}

/**
 * The check for a host about to boot an image: throws a one-line ImageToolError naming the first problem
 * (and how many more), else returns the top qcow2 blob's absolute path (the per-job disk's backing file).
 */
export async function assertImageChain(storeDir: string, manifest: Manifest, opts: ChainOptions = {}): Promise<string> {
  const s = layeredScheme(manifest);
  if (s === null)
    throw new ImageToolError(`not a layered image: no ${QEMU_SCHEME.head} or ${NBD_SCHEME.head} attribute`);
  const problems = await checkImageChain(storeDir, manifest, opts);
  if (problems.length > 0) {
    const more = problems.length > 1 ? ` (and ${problems.length - 1} more)` : '';
    throw new ImageToolError(`qcow2 chain check failed: ${problems[0]!.message}${more}`);
  }
  return realpath(blobPath(storeDir, manifest.blobs[topBlobName(manifest, s)]!.digest));
}
