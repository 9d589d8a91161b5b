import { createReadStream, lstatSync, readdirSync, readFileSync, readlinkSync, type Stats } from 'node:fs';
import { stat, unlink } from 'node:fs/promises';
import { isUtf8 } from 'node:buffer';
import { join, posix } from 'node:path';
import { Readable } from 'node:stream';
import { pack as tarPack, type Header, type Pack } from 'tar-stream';
import { CompressStream } from 'zstd-napi';
import { blobTempDir, commitBlob, type AddedBlob } from './blob-writer.js';
import type { ProgressFn } from './digest.js';
import { describeFsError, ImageToolError } from './errors.js';
import { HashingWriter } from './hashing-writer.js';
import { createTempFile } from './temp-files.js';
import { compareUtf8 } from './byte-order.js';

/**
 * A directory as a reproducible tar blob (the boot partition of a netboot image, say). `tar -cf` output
 * depends on mtimes, owners and readdir order, so the same tree would give a new digest, hence a new image
 * ID, on every build. Here the archive depends on the tree's names, contents, modes and links only:
 * entries in byte order of their paths, mtime fixed (SOURCE_DATE_EPOCH, else 0), uid/gid 0, no user or
 * group names. Symlinks are kept as links; hard links, devices, sockets and FIFOs are refused, as is a
 * symlink that leads out of the tree (extracting it would let later entries write outside the target).
 */

export type Compression = 'zstd';

/** ustar stores the mtime in 11 octal digits. */
const MAX_MTIME = 8 ** 11 - 1;

/** SOURCE_DATE_EPOCH (reproducible-builds.org): unset or empty means 0, else whole seconds since 1970. */
export function parseSourceDateEpoch(value: string | undefined): number {
  if (value === undefined || value === '') return 0;
  if (!/^\d{1,11}$/.test(value) || Number(value) > MAX_MTIME)
    throw new ImageToolError(
      `SOURCE_DATE_EPOCH ${JSON.stringify(value.slice(0, 40))} must be whole seconds since 1970 (at most ${MAX_MTIME})`,
    );
  return Number(value);
}

export interface TreeEntry {
  /** path relative to the tree root, '/'-separated */
  rel: string;
  type: 'directory' | 'file' | 'symlink';
  mode: number;
  size: number;
  linkname?: string;
}

/** Whether a symlink's target, resolved from the link's directory, stays inside the tree. */
export function linkStaysInside(rel: string, target: string): boolean {
  if (target === '' || posix.isAbsolute(target)) return false;
  const resolved = posix.normalize(posix.join(posix.dirname(rel), target));
  return resolved !== '..' && !resolved.startsWith('../');
}

function describe(st: Stats): string {
  if (st.isBlockDevice()) return 'a block device';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file, directory or symlink';
}

/**
 * Lists the tree under `root` (not the root itself) in archive order, refusing what the archive cannot
 * hold faithfully. Names must be UTF-8: they are the archive's entry names.
 */
export async function listTree(root: string): Promise<TreeEntry[]> {
  const rootStat = await stat(root).catch((err: unknown) => {
    throw describeFsError(err, 'read directory', root);
  });
  if (!rootStat.isDirectory()) throw new ImageToolError(`${root} is not a directory`);
  const entries: TreeEntry[] = [];
  // Synchronous on purpose, like tree-walk.ts: thousands of lstat calls cost a thread-pool round trip
  // each when asynchronous, and nothing else runs meanwhile in a command that is listing its input.
  const walk = (dir: string, rel: string): void => {
    let names: Buffer[];
    try {
      names = readdirSync(dir, { encoding: 'buffer' });
    } catch (err) {
      throw describeFsError(err, 'read directory', dir);
    }
    for (const raw of names) {
      const name = raw.toString('utf8');
      const childRel = rel === '' ? name : `${rel}/${name}`;
      if (!isUtf8(raw)) throw new ImageToolError(`${join(dir, name)}: file name is not UTF-8`);
      const abs = join(dir, name);
      let st: Stats;
      try {
        st = lstatSync(abs);
      } catch (err) {
        throw describeFsError(err, 'read', abs);
      }
      const mode = st.mode & 0o7777;
      if (st.isDirectory()) {
        entries.push({ rel: childRel, type: 'directory', mode, size: 0 });
        walk(abs, childRel);
      } else if (st.isFile()) {
        if (st.nlink > 1)
          throw new ImageToolError(
            `${abs} has ${st.nlink} hard links; a reproducible archive keeps no hard links (copy the file instead)`,
          );
        entries.push({ rel: childRel, type: 'file', mode, size: st.size });
      } else if (st.isSymbolicLink()) {
        const target = readlinkSync(abs);
        if (!linkStaysInside(childRel, target))
          throw new ImageToolError(`${abs} is a symlink to ${JSON.stringify(target)}, which leads out of ${root}`);
        entries.push({ rel: childRel, type: 'symlink', mode, size: 0, linkname: target });
      } else {
        throw new ImageToolError(
          `${abs} is ${describe(st)}; a blob directory may hold files, directories and symlinks only`,
        );
      }
    }
  };
  walk(root, '');
  return entries.sort((a, b) => compareUtf8(a.rel, b.rel));
}

function header(e: TreeEntry, mtime: Date): Partial<Header> & Pick<Header, 'name'> {
  return {
    name: e.type === 'directory' ? `${e.rel}/` : e.rel,
    type: e.type,
    // With the file-type bits set the mode is never 0, which tar-stream would replace by a default.
    mode: e.mode | (e.type === 'directory' ? 0o40000 : e.type === 'symlink' ? 0o120000 : 0o100000),
    size: e.size,
    mtime,
    uid: 0,
    gid: 0,
    uname: '',
    gname: '',
    ...(e.linkname === undefined ? {} : { linkname: e.linkname }),
  };
}

/** Files up to this size are read whole; larger ones are streamed. */
const SMALL_FILE = 1 << 20;

function changed(abs: string): ImageToolError {
  return new ImageToolError(`${abs} changed while it was archived; run the command again`);
}

/** Resolves once the sink has taken the entry; a streamed file that shrank fails. */
function entryDone(
  pack: Pack,
  e: TreeEntry,
  abs: string,
  mtime: Date,
  body?: Buffer,
): { sink: ReturnType<Pack['entry']>; done: Promise<void> } {
  let sink!: ReturnType<Pack['entry']>;
  const done = new Promise<void>((resolve, reject) => {
    const cb = (err?: Error | null): void => {
      if (!err) resolve();
      else reject(err.message === 'Size mismatch' ? changed(abs) : err);
    };
    sink = body === undefined ? pack.entry(header(e, mtime), cb) : pack.entry(header(e, mtime), body, cb);
  });
  return { sink, done };
}

/** Streams a large file into its entry: exactly the size in the header, so growth cannot break the archive. */
function streamEntry(pack: Pack, root: string, e: TreeEntry, mtime: Date): Promise<void> {
  const abs = join(root, e.rel);
  const { sink, done } = entryDone(pack, e, abs, mtime);
  const source = createReadStream(abs, { start: 0, end: e.size - 1, highWaterMark: 1 << 20 });
  const failed = new Promise<never>((_, reject) => {
    source.on('error', (err) => {
      reject(describeFsError(err, 'read', abs));
      sink.destroy(err);
    });
  });
  sink.on('close', () => source.destroy());
  source.pipe(sink);
  return Promise.race([done, failed]);
}

/**
 * Feeds every entry to the packer in order. Small files are read whole and synchronously: packing
 * thousands of them is bound by per-call overhead, and a thread-pool round trip per open, read and
 * close made it several times slower than tar (measured: bench/imagetool.ts). Large files are streamed.
 */
async function packEntries(
  pack: Pack,
  root: string,
  entries: TreeEntry[],
  mtime: Date,
  onProgress?: ProgressFn,
): Promise<void> {
  for (const e of entries) {
    const abs = join(root, e.rel);
    if (e.type === 'file' && e.size > 0 && e.size <= SMALL_FILE) {
      let body: Buffer;
      try {
        body = readFileSync(abs);
      } catch (err) {
        throw describeFsError(err, 'read', abs);
      }
      if (body.length !== e.size) throw changed(abs);
      await entryDone(pack, e, abs, mtime, body).done;
    } else if (e.type === 'file' && e.size > 0) {
      await streamEntry(pack, root, e, mtime);
    } else {
      const { sink, done } = entryDone(pack, e, abs, mtime);
      sink.end(undefined);
      await done;
    }
    onProgress?.(e.size);
  }
}

export interface DirBlobOptions {
  mtime: number;
  compression?: Compression;
  onProgress?: ProgressFn;
}

/**
 * Packs the tree into a blob of the store: the archive (zstd-compressed if asked) is hashed while it is
 * written to a temp file, fsynced and renamed to its digest path. One pass over the tree, memory flat.
 */
export async function addDirBlob(
  storeDir: string,
  root: string,
  entries: TreeEntry[],
  opts: DirBlobOptions,
): Promise<AddedBlob> {
  const mtime = new Date(opts.mtime * 1000);
  const pack = tarPack();
  // Whichever side fails first holds the cause; the other side's error is only its echo.
  let firstError: unknown;
  const produced = (async () => {
    try {
      await packEntries(pack, root, entries, mtime, opts.onProgress);
      pack.finalize();
    } catch (err) {
      firstError ??= err;
      pack.destroy(err as Error);
    }
  })();
  const tar = pack as unknown as AsyncIterable<Uint8Array>;
  const archive: AsyncIterable<Uint8Array> =
    opts.compression === 'zstd' ? Readable.from(tar).pipe(new CompressStream({ compressionLevel: 3 })) : tar;

  const tmp = await createTempFile(await blobTempDir(storeDir));
  const writer = new HashingWriter(tmp.fh);
  let committed = false;
  try {
    try {
      for await (const chunk of archive) await writer.write(chunk);
      await produced;
      if (firstError !== undefined) throw firstError;
      const result = await writer.finish();
      await tmp.fh.close();
      const written = await commitBlob(storeDir, tmp.path, result.digest, result.size);
      committed = true;
      return { ...result, written };
    } catch (err) {
      firstError ??= err;
      pack.destroy(new Error('the archive could not be stored'));
      await produced;
      await writer.abandon();
      if (firstError instanceof ImageToolError) throw firstError;
      throw describeFsError(firstError, 'store the archive of', root);
    }
  } finally {
    await tmp.fh.close().catch(() => {});
    if (!committed) await unlink(tmp.path).catch(() => {});
  }
}
