import { createHash } from 'node:crypto';
import { mkdir, readdir, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { commitBlob } from './blob-writer.js';
import type { ProgressFn } from './digest.js';
import { describeFsError, DownloadError, ImageToolError } from './errors.js';
import { DownloadSink } from './download-sink.js';
import type { StreamHasher } from './stream-hasher.js';
import {
  backoffMs,
  describeNetworkError,
  get,
  headerValue,
  mirrorFileUrl,
  parseContentLength,
  parseContentRange,
  TransientError,
  transientStatus,
  type HttpClient,
} from './http.js';
import { PARTIAL_DIR, tempOwnerPid } from './paths.js';
import { isStaleTemp } from './temp-files.js';

/**
 * Downloading one store file from a mirror: streamed to a file in the store while hashed, committed under
 * its digest name only when digest (and size, when a manifest gives it) match. An interrupted download is
 * continued with a Range request, in this process after a cut connection, or by the next pull after a
 * crash: the bytes already on disk are hashed again from the start, never trusted, and a resumed file that
 * does not hash to its name is fetched once more from scratch before the verdict.
 *
 * Partial blobs live in STORE/.imagetool/partial/: `.tmp-<pid>-<digest>` while a pull works on one (a
 * crashed pull leaves it, and the next pull adopts it), `<digest>` once a pull gave up on a transient error
 * (kept for the next pull; `gc` removes it).
 */

export interface RetryPolicy {
  /** attempts in a row that make no progress before the download fails */
  attempts: number;
  baseDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 5, baseDelayMs: 250 };

export interface DownloadContext {
  storeDir: string;
  mirror: URL;
  client: HttpClient;
  retry: RetryPolicy;
  signal: AbortSignal;
  onProgress?: ProgressFn;
  /** called once the size of a file whose size no manifest gave is known from the server */
  onSizeLearned?: (bytes: number) => void;
  onRetry?: (rel: string, reason: string) => void;
  /** hashes downloads on a worker thread, and lends them the memory they are received into */
  hasher: StreamHasher;
}

const MANIFEST_MAX_BYTES = 16 << 20;

function partialDir(storeDir: string): string {
  return join(storeDir, PARTIAL_DIR);
}

/**
 * Takes over a partial download of `digest`, if one is there and no live pull owns it: a released one, or
 * one a crashed pull left. Renaming is the claim, so two pulls never write one file.
 */
async function claimPartial(storeDir: string, digest: string, mine: string): Promise<void> {
  const dir = partialDir(storeDir);
  const names = await readdir(dir).catch(() => [] as string[]);
  const candidates = [digest, ...names.filter((n) => n.endsWith(`-${digest}`) && tempOwnerPid(n) !== null)];
  for (const name of candidates) {
    const path = join(dir, name);
    if (name !== digest) {
      const st = await stat(path).catch(() => null);
      if (!st || !isStaleTemp(name, st.mtimeMs)) continue;
    }
    try {
      await rename(path, mine);
      return;
    } catch {
      // gone, or claimed by another pull meanwhile
    }
  }
}

interface Attempt {
  /** bytes received in this attempt */
  received: number;
}

/**
 * One GET (with Range when the writer already holds bytes), streamed into the writer. Returns normally
 * when the body ended; throws TransientError for what retrying may cure, DownloadError for a verdict.
 */
async function attempt(
  ctx: DownloadContext,
  rel: string,
  url: URL,
  writer: DownloadSink,
  expectedSize: number | undefined,
  progress: Attempt,
): Promise<'done' | 'complete-on-disk' | 'restart'> {
  const start = writer.size;
  const res = await get(ctx.client, url, { start, signal: ctx.signal });
  const drain = (): Promise<void> => res.discard();
  if (res.statusCode === 404 || res.statusCode === 410) {
    await drain();
    throw new DownloadError(rel, url, `not found on the mirror (HTTP ${res.statusCode})`);
  }
  if (transientStatus(res.statusCode)) {
    await drain();
    throw new TransientError(`HTTP ${res.statusCode}`);
  }
  if (start > 0 && res.statusCode === 416) {
    await drain();
    const range = parseContentRange(headerValue(res.headers, 'content-range'));
    // Everything was already here (a pull died between the last byte and the rename).
    if (range !== null && 'unsatisfied' in range && range.total === start) return 'complete-on-disk';
    return 'restart';
  }
  if (start > 0 && res.statusCode === 200) {
    await drain();
    throw new DownloadError(
      rel,
      url,
      'the server ignored the Range request to resume (HTTP 200, not 206); the partial download is discarded, run pull again to fetch it whole',
    );
  }
  const expectedStatus = start > 0 ? 206 : 200;
  if (res.statusCode !== expectedStatus) {
    await drain();
    throw new DownloadError(rel, url, `unexpected HTTP ${res.statusCode}`);
  }
  let total: number | null;
  if (start > 0) {
    const range = parseContentRange(headerValue(res.headers, 'content-range'));
    if (range === null || 'unsatisfied' in range || range.start !== start) {
      await drain();
      throw new DownloadError(rel, url, `the server answered the resume with a bad Content-Range`);
    }
    total = range.total;
  } else {
    const length = parseContentLength(headerValue(res.headers, 'content-length'));
    total = length;
    if (length !== null && expectedSize === undefined) ctx.onSizeLearned?.(length);
  }
  if (total !== null && expectedSize !== undefined && total !== expectedSize) {
    await drain();
    throw new DownloadError(rel, url, `the mirror's file is ${total} bytes, the manifest says ${expectedSize}`);
  }
  const limit = expectedSize ?? total ?? Infinity;
  try {
    await res.read(
      (chunk) => {
        if (writer.size + chunk.length > limit) {
          throw new DownloadError(
            rel,
            url,
            `the mirror sent more than the ${limit} bytes ${expectedSize === undefined ? 'it announced' : 'the manifest says'}`,
          );
        }
        progress.received += chunk.length;
        ctx.onProgress?.(chunk.length);
        let written: Promise<void> | void;
        try {
          written = writer.write(chunk);
        } catch (err) {
          throw new LocalWriteError(err);
        }
        return written?.catch((err: unknown) => {
          throw new LocalWriteError(err);
        });
      },
      () => writer.room(),
    );
  } catch (err) {
    if (err instanceof LocalWriteError) throw err.cause;
    if (err instanceof DownloadError || err instanceof TransientError || ctx.signal.aborted) throw err;
    throw new TransientError(describeNetworkError(err));
  }
  if (total !== null && writer.size < total) throw new TransientError('the connection closed before the end');
  return 'done';
}

/** A failure writing our own file (a full disk): never retried, never blamed on the network. */
class LocalWriteError extends Error {
  constructor(override readonly cause: unknown) {
    super('local write failed');
  }
}

export interface DownloadedBlob {
  size: number;
  /** bytes that were on disk from an earlier pull, verified again */
  resumed: number;
}

/**
 * Downloads blob `digest` into the store. `expectedSize` (from a manifest) is enforced while receiving:
 * a mirror can never make us write more.
 */
export async function downloadBlob(
  ctx: DownloadContext,
  rel: string,
  digest: string,
  expectedSize: number | undefined,
): Promise<DownloadedBlob> {
  const url = mirrorFileUrl(ctx.mirror, rel);
  const dir = partialDir(ctx.storeDir);
  await mkdir(dir, { recursive: true }).catch((err: unknown) => {
    throw describeFsError(err, 'create', dir);
  });
  const mine = join(dir, `.tmp-${process.pid}-${digest}`);
  await claimPartial(ctx.storeDir, digest, mine);
  let keep = false;
  let committed = false;
  let sink: DownloadSink | undefined;
  try {
    sink = await DownloadSink.open(mine, ctx.hasher).catch((err: unknown) => {
      throw describeFsError(err, 'write', mine);
    });
    let resumed = sink.existing;
    if (expectedSize !== undefined && resumed > expectedSize) {
      await sink.restart();
      resumed = 0;
    } else await sink.absorbExisting();
    ctx.onProgress?.(resumed);
    let freshStart = resumed === 0;
    let failures = 0;
    for (;;) {
      const progress: Attempt = { received: 0 };
      let outcome: Awaited<ReturnType<typeof attempt>> | 'transient';
      let reason = '';
      try {
        // A partial that already holds every byte (a pull died before the rename) needs no request.
        const whole = expectedSize !== undefined && expectedSize > 0 && sink.size === expectedSize;
        outcome = whole ? 'done' : await attempt(ctx, rel, url, sink, expectedSize, progress);
      } catch (err) {
        if (!(err instanceof TransientError)) throw err;
        outcome = 'transient';
        reason = err.message;
      }
      if (outcome === 'restart') {
        ctx.onProgress?.(-sink.size);
        await sink.restart();
        freshStart = true;
        continue;
      }
      if (outcome === 'transient') {
        failures = progress.received > 0 ? 1 : failures + 1;
        if (failures > ctx.retry.attempts) {
          await sink.flushQueued();
          keep = true;
          throw new DownloadError(rel, url, `${reason} (gave up after ${ctx.retry.attempts} retries)`);
        }
        ctx.onRetry?.(rel, reason);
        await sleep(progress.received > 0 ? 0 : backoffMs(failures, ctx.retry.baseDelayMs), undefined, {
          signal: ctx.signal,
        });
        continue;
      }
      const result = await sink.finish();
      if (result.digest !== digest || (expectedSize !== undefined && result.size !== expectedSize)) {
        if (!freshStart) {
          // The bytes we resumed from may be what is wrong: one more try from nothing decides.
          ctx.onProgress?.(-result.size);
          await sink.restart();
          freshStart = true;
          continue;
        }
        throw new DownloadError(rel, url, `wrong bytes: the download hashes to ${result.digest}; nothing kept`);
      }
      await sink.close();
      await commitBlob(ctx.storeDir, mine, digest, result.size);
      committed = true;
      return { size: result.size, resumed };
    }
  } catch (err) {
    if (ctx.signal.aborted && !(err instanceof DownloadError)) {
      keep = true;
      // On a full disk (another download filled it) nothing is kept, as for the download that hit it.
      await sink?.flushQueued().catch((e: unknown) => {
        if ((e as NodeJS.ErrnoException).code === 'ENOSPC') keep = false;
      });
    }
    if ((err as NodeJS.ErrnoException).code === 'ENOSPC') keep = false;
    if (err instanceof ImageToolError || ctx.signal.aborted) throw err;
    throw describeFsError(err, 'store', rel);
  } finally {
    await sink?.close().catch(() => {});
    if (!committed) {
      // Kept bytes become a released partial for the next pull; anything else (or nothing) is removed.
      const size = keep ? ((await stat(mine).catch(() => null))?.size ?? 0) : 0;
      if (size > 0) await rename(mine, join(dir, digest)).catch(() => unlink(mine).catch(() => {}));
      else await unlink(mine).catch(() => {});
    }
  }
}

/**
 * Fetches a small file whole into memory, at most `maxBytes` (a mirror cannot make us hold more), with the
 * same retries as blobs.
 */
async function fetchSmall(ctx: DownloadContext, rel: string, maxBytes: number, what: string): Promise<Buffer> {
  const url = mirrorFileUrl(ctx.mirror, rel);
  let failures = 0;
  for (;;) {
    try {
      const res = await get(ctx.client, url, { signal: ctx.signal });
      if (res.statusCode !== 200) {
        await res.discard();
        if (transientStatus(res.statusCode)) throw new TransientError(`HTTP ${res.statusCode}`);
        throw new DownloadError(
          rel,
          url,
          res.statusCode === 404 || res.statusCode === 410
            ? `not found on the mirror (HTTP ${res.statusCode})`
            : `unexpected HTTP ${res.statusCode}`,
        );
      }
      const parts: Buffer[] = [];
      let size = 0;
      try {
        await res.read((chunk) => {
          size += chunk.length;
          if (size > maxBytes)
            throw new DownloadError(rel, url, `${what} of more than ${maxBytes >> 20} MiB is refused`);
          parts.push(Buffer.from(chunk));
        });
      } catch (err) {
        if (err instanceof DownloadError || err instanceof TransientError || ctx.signal.aborted) throw err;
        throw new TransientError(describeNetworkError(err));
      }
      return Buffer.concat(parts, size);
    } catch (err) {
      if (!(err instanceof TransientError)) throw err;
      if (++failures > ctx.retry.attempts)
        throw new DownloadError(rel, url, `${err.message} (gave up after ${ctx.retry.attempts} retries)`);
      ctx.onRetry?.(rel, err.message);
      await sleep(backoffMs(failures, ctx.retry.baseDelayMs), undefined, { signal: ctx.signal });
    }
  }
}

/** Downloads a manifest into memory (it is parsed whole; at most 16 MiB) and checks it hashes to its ID. */
export async function downloadManifest(ctx: DownloadContext, rel: string, id: string): Promise<Buffer> {
  const bytes = await fetchSmall(ctx, rel, MANIFEST_MAX_BYTES, 'a manifest');
  const digest = createHash('sha256').update(bytes).digest('hex');
  if (digest !== id)
    throw new DownloadError(
      rel,
      mirrorFileUrl(ctx.mirror, rel),
      `wrong bytes: the manifest hashes to ${digest}; nothing kept`,
    );
  return bytes;
}

/** Downloads a text index (all.txt) into memory, at most `maxBytes`. */
export async function downloadText(ctx: DownloadContext, rel: string, maxBytes: number): Promise<string> {
  return (await fetchSmall(ctx, rel, maxBytes, 'an index')).toString('utf8');
}
