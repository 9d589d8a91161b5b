import { createHash } from 'node:crypto';
import { readSync } from 'node:fs';
import { mkdir, open, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { blobIdentity, recordVerified, storedBlobIsSound } from './blob-cache.js';
import { CHUNK_SIZE, type DigestResult, type ProgressFn } from './digest.js';
import { DownloadSink, SLOTS_PER_DOWNLOAD } from './download-sink.js';
import { describeFsError, ImageToolError } from './errors.js';
import { BLOBS_DIR, blobPath, blobRelPath } from './paths.js';
import { publish } from './publish.js';
import { StreamHasher } from './stream-hasher.js';
import { createTempFile, syncDir } from './temp-files.js';

export interface AddedBlob extends DigestResult {
  /** false when the store already held this blob and it was left untouched */
  written: boolean;
}

/** Buffers in flight: one being read, one being hashed, the rest being written. Memory: 4 MiB per blob. */
const BUFFERS = 16;

/**
 * Start flushing to disk every this many bytes, in the background, so the final fsync finds little
 * left to write: writeback then overlaps reading and hashing instead of following them.
 */
const FLUSH_EVERY = 64 << 20;

/**
 * Regular files from this size on are copied through a DownloadSink (`copyThroughSink`). Its hash worker
 * takes 60 to 370 ms to start on this machine, more than page-cache writes and hashing on this thread
 * cost a smaller file (about 3 ms a MiB): create with 50 files of 100 kB took 3.5 s through the sink,
 * 0.6 s without it.
 */
export const DIRECT_FROM = 64 << 20;

async function writeAll(fh: FileHandle, buf: Buffer, length: number, position: number): Promise<void> {
  let done = 0;
  while (done < length) {
    const { bytesWritten } = await fh.write(buf, done, length - done, position + done);
    done += bytesWritten;
  }
}

/** Reads the next bytes of the source into `buf`; 0 at its end. */
type Reader = (buf: Buffer) => number | Promise<number>;

/**
 * A regular file is read with blocking reads on this thread: from the page cache they take a few
 * microseconds, land in this core's cache for the hash, and never queue behind the writes in
 * libuv's thread pool (four threads, which the writes in flight can all hold). Anything else (a
 * pipe, a terminal) is read asynchronously, as it may have to wait.
 */
function readerOf(src: FileHandle, regularFile: boolean): Reader {
  if (regularFile) return (buf) => readSync(src.fd, buf, 0, CHUNK_SIZE, null);
  return async (buf) => (await src.read(buf, 0, CHUNK_SIZE, null)).bytesRead;
}

/**
 * Copies `src` into `dst` and hashes it with a single read of the source. Reads are sequential (so a pipe
 * works as a source); writes are positional, so several can be in flight while the next chunk is read
 * and hashed. A buffer is reused only after its write finished: that is the backpressure.
 */
async function copyAndHash(
  src: FileHandle,
  regularFile: boolean,
  dst: FileHandle,
  onProgress?: ProgressFn,
): Promise<DigestResult> {
  const hash = createHash('sha256');
  const read = readerOf(src, regularFile);
  const bufs = Array.from({ length: BUFFERS }, () => Buffer.allocUnsafe(CHUNK_SIZE));
  const writes: Array<Promise<void> | undefined> = new Array(BUFFERS);
  let i = 0;
  let size = 0;
  let reading = read(bufs[0]!);
  let flushing: Promise<void> | undefined;
  let flushedAt = 0;
  try {
    for (;;) {
      const bytesRead = await reading;
      if (bytesRead === 0) break;
      const buf = bufs[i]!;
      const next = (i + 1) % BUFFERS;
      await writes[next];
      reading = read(bufs[next]!);
      hash.update(buf.subarray(0, bytesRead));
      writes[i] = writeAll(dst, buf, bytesRead, size);
      size += bytesRead;
      onProgress?.(bytesRead);
      i = next;
      if (size - flushedAt >= FLUSH_EVERY && flushing === undefined) {
        flushedAt = size;
        flushing = dst.datasync().finally(() => {
          flushing = undefined;
        });
      }
    }
  } finally {
    // Settle every write and flush before the caller closes or unlinks the file, even on failure.
    const results = await Promise.allSettled([reading, flushing, ...writes]);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    // A failed write or flush is the cause of whatever else went wrong, so it is the error reported.
    // eslint-disable-next-line no-unsafe-finally
    if (failed) throw failed.reason;
  }
  return { digest: hash.digest('hex'), size };
}

/**
 * Copies the regular file `src` into the file at `dstPath` through a DownloadSink: each read lands
 * straight in a slot of the hash worker's memory, is hashed there on another core and written from it
 * with O_DIRECT. Writing a gigabyte through the page cache costs this machine more CPU than reading and
 * hashing it (download-sink.ts), and fsync makes create wait for it all anyway. The reads are blocking,
 * as in `readerOf`; the writes and hash steps in flight run on other threads meanwhile. Only the size
 * at the start matters: a file that grows or shrinks while it is read is copied as read, either way.
 */
async function copyThroughSink(src: FileHandle, dstPath: string, onProgress?: ProgressFn): Promise<DigestResult> {
  const hasher = new StreamHasher(SLOTS_PER_DOWNLOAD);
  try {
    const sink = await DownloadSink.open(dstPath, hasher);
    try {
      for (;;) {
        const room = sink.room();
        // An empty room means a write failed: writing nothing reports that failure.
        const bytesRead = room.byteLength > 0 ? readSync(src.fd, room, 0, room.byteLength, null) : 0;
        if (bytesRead === 0 && room.byteLength > 0) break;
        await sink.write(room.subarray(0, bytesRead));
        onProgress?.(bytesRead);
      }
      return await sink.finish();
    } finally {
      await sink.close();
    }
  } finally {
    await hasher.close();
  }
}

/**
 * Moves a complete, fsynced temp file whose content hashed to `digest` to its digest path. A blob already
 * stored is kept and the temp file dropped only when it is sound (right size, hashes to its name: blobs
 * are immutable, and rewriting a good one would disturb its readers); anything else there (damaged,
 * truncated, a symlink) is replaced atomically by the rename. The stored blob is recorded as verified.
 */
export async function commitBlob(storeDir: string, tempPath: string, digest: string, size: number): Promise<boolean> {
  const finalPath = blobPath(storeDir, digest);
  if (await storedBlobIsSound(storeDir, digest, size)) {
    await unlink(tempPath);
    return false;
  }
  const dir = dirname(finalPath);
  await mkdir(dir, { recursive: true });
  await publish(tempPath, finalPath);
  await syncDir(dir);
  const stored = await blobIdentity(storeDir, digest);
  if (stored !== null) await recordVerified(storeDir, digest, stored);
  return true;
}

/** Where blob temp files live: inside the store (same file system, so rename works), above the shards. */
export async function blobTempDir(storeDir: string): Promise<string> {
  const dir = join(storeDir, BLOBS_DIR);
  await mkdir(dir, { recursive: true });
  return dir;
}

/**
 * Adds the file at `srcPath` to the store as a blob: hash while copying into a temp file, fsync, rename
 * to blobs/ab/cd/ef/<digest>. With `expectedDigest`, content that hashes differently is refused and
 * nothing is stored.
 */
export async function addBlob(
  storeDir: string,
  srcPath: string,
  opts: { expectedDigest?: string; onProgress?: ProgressFn } = {},
): Promise<AddedBlob> {
  let src: FileHandle;
  try {
    src = await open(srcPath, 'r');
  } catch (err) {
    throw describeFsError(err, 'read', srcPath);
  }
  let tempPath: string | undefined;
  try {
    const st = await src.stat();
    if (st.isDirectory()) throw new ImageToolError(`cannot read ${srcPath}: is a directory`);
    const tmp = await createTempFile(await blobTempDir(storeDir));
    tempPath = tmp.path;
    let result: DigestResult;
    if (st.isFile() && st.size >= DIRECT_FROM) {
      await tmp.fh.close();
      result = await copyThroughSink(src, tempPath, opts.onProgress);
    } else {
      try {
        result = await copyAndHash(src, st.isFile(), tmp.fh, opts.onProgress);
        await tmp.fh.sync();
      } finally {
        await tmp.fh.close();
      }
    }
    if (opts.expectedDigest !== undefined && result.digest !== opts.expectedDigest) {
      throw new ImageToolError(
        `${srcPath} hashes to ${result.digest}, expected ${opts.expectedDigest} (${blobRelPath(opts.expectedDigest)})`,
      );
    }
    const written = await commitBlob(storeDir, tempPath, result.digest, result.size);
    tempPath = undefined;
    return { ...result, written };
  } catch (err) {
    if (tempPath !== undefined) await unlink(tempPath).catch(() => {});
    if (err instanceof ImageToolError) throw err;
    throw describeFsError(err, 'store', srcPath);
  } finally {
    await src.close();
  }
}
