import { mkdir, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { attempt } from '../protocol/validation.js';
import { parseIndexLine } from './all-txt.js';
import { storedBlobIsSound } from './blob-cache.js';
import { checkBlobsPresent, putManifest } from './create.js';
import type { ProgressFn } from './digest.js';
import {
  DEFAULT_RETRY,
  downloadBlob,
  downloadManifest,
  downloadText,
  type DownloadContext,
  type RetryPolicy,
} from './download.js';
import { SLOTS_PER_DOWNLOAD } from './download-sink.js';
import { describeFsError, DownloadError, ImageToolError } from './errors.js';
import { httpClient, mirrorFileUrl, parseMirrorUrl } from './http.js';
import { StreamHasher } from './stream-hasher.js';
import { parseManifest, type Manifest } from './manifest.js';
import { ALL_TXT, blobRelPath, DIGEST_RE, imageRelPath, PARTIAL_DIR } from './paths.js';
import { readManifest } from './store.js';
import { asWriter } from './store-markers.js';
import { removeStaleTemps } from './temp-files.js';

/** all.txt is read whole (its lines are the plan); a mirror cannot make us hold more than this. */
const ALL_TXT_MAX_BYTES = 64 << 20;
export const DEFAULT_PULL_JOBS = 4;

/**
 * Downloads running in one process, by blob digest: a second pull that needs a blob already on its way
 * waits for that download instead of starting its own (a supervisor's jobs share one).
 */
export class SharedDownloads {
  private readonly inflight = new Map<string, Promise<unknown>>();

  /** Runs `download` unless one for `digest` is running; then waits for that one and returns false. */
  async once(digest: string, download: () => Promise<unknown>): Promise<boolean> {
    const running = this.inflight.get(digest);
    if (running !== undefined) {
      await running.catch(() => {});
      return false;
    }
    const p = download();
    this.inflight.set(digest, p);
    try {
      await p;
      return true;
    } finally {
      this.inflight.delete(digest);
    }
  }
}

export interface PullPlan {
  /** blobs to download, and their bytes (as far as known: blobs no manifest names are counted when they start) */
  files: number;
  bytes: number;
}

export interface PullOptions {
  /** downloads in parallel (default 4) */
  jobs?: number;
  retry?: RetryPolicy;
  signal?: AbortSignal;
  shared?: SharedDownloads;
  /** called once the blobs to fetch are known, and again when a size becomes known */
  onPlan?: (plan: PullPlan) => void;
  onProgress?: ProgressFn;
  onFileDone?: () => void;
  onRetry?: (rel: string, reason: string) => void;
  onWaitForGc?: (gcPid: number) => void;
}

export interface PullResult {
  mirror: string;
  /** the images now in the store, fetched or found there */
  images: string[];
  manifestsFetched: number;
  blobsFetched: number;
  blobsPresent: number;
  bytesFetched: number;
  /** bytes of partial downloads that were continued (and verified again) */
  bytesResumed: number;
  retries: number;
  /** all.txt lines pull does not fetch: files that are not blobs or manifests, and malformed lines */
  notPulled: string[];
}

interface BlobWant {
  digest: string;
  size?: number;
}

/** Runs `work` over items with at most `jobs` at once; the first failure stops new starts and aborts the rest. */
async function pool<T>(
  items: T[],
  jobs: number,
  abort: AbortController,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failure: { err: unknown } | undefined;
  const lane = async (): Promise<void> => {
    while (failure === undefined && next < items.length) {
      const item = items[next++]!;
      try {
        await work(item);
      } catch (err) {
        if (failure === undefined) {
          failure = { err };
          abort.abort();
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(jobs, items.length) }, lane));
  if (failure !== undefined) throw failure.err;
}

/** The image IDs a pull asks for: full IDs as given, prefixes resolved among the images all.txt lists. */
function resolveIds(wanted: string[], listed: string[] | undefined): string[] {
  const ids = new Set<string>();
  for (const w of wanted) {
    const id = w.toLowerCase();
    if (DIGEST_RE.test(id)) {
      ids.add(id);
      continue;
    }
    if (!/^[0-9a-f]{1,63}$/.test(id)) throw new ImageToolError(`${JSON.stringify(w)} is not an image ID (hex digits)`);
    const matches = (listed ?? []).filter((l) => l.startsWith(id));
    if (matches.length === 0) throw new ImageToolError(`the mirror's all.txt lists no image ${w}`);
    if (matches.length > 1)
      throw new ImageToolError(`image ID prefix ${w} is ambiguous on the mirror: ${matches.length} images match`);
    ids.add(matches[0]!);
  }
  return [...ids];
}

/**
 * Pulls images (manifest first, then its blobs) or, with 'all', everything the mirror's all.txt lists,
 * into `storeDir`. Blobs already sound in the store are skipped; the rest are downloaded in parallel,
 * each verified before it gets its name. Manifests are written after all their blobs, so an interrupted
 * pull never leaves an image without its blobs; on a failure, images that are complete are still written.
 */
export async function pullImages(
  storeDir: string,
  mirrorText: string,
  what: string[] | 'all',
  opts: PullOptions = {},
): Promise<PullResult> {
  const mirror = parseMirrorUrl(mirrorText);
  const jobs = Math.max(1, opts.jobs ?? DEFAULT_PULL_JOBS);
  await mkdir(storeDir, { recursive: true }).catch((err: unknown) => {
    throw describeFsError(err, 'create store', storeDir);
  });
  return asWriter(
    storeDir,
    async () => {
      await removeStaleTemps(storeDir);
      const abort = new AbortController();
      const onOuterAbort = (): void => abort.abort();
      opts.signal?.addEventListener('abort', onOuterAbort, { once: true });
      const client = httpClient();
      const hasher = new StreamHasher(jobs * SLOTS_PER_DOWNLOAD);
      try {
        return await pull(storeDir, mirror, what, jobs, abort, client, hasher, opts);
      } finally {
        opts.signal?.removeEventListener('abort', onOuterAbort);
        await client.close();
        await hasher.close();
      }
    },
    opts.onWaitForGc,
  );
}

async function pull(
  storeDir: string,
  mirror: URL,
  what: string[] | 'all',
  jobs: number,
  abort: AbortController,
  client: ReturnType<typeof httpClient>,
  hasher: StreamHasher,
  opts: PullOptions,
): Promise<PullResult> {
  const result: PullResult = {
    mirror: mirror.href,
    images: [],
    manifestsFetched: 0,
    blobsFetched: 0,
    blobsPresent: 0,
    bytesFetched: 0,
    bytesResumed: 0,
    retries: 0,
    notPulled: [],
  };
  const plan: PullPlan = { files: 0, bytes: 0 };
  const ctx: DownloadContext = {
    storeDir,
    mirror,
    client,
    hasher,
    retry: opts.retry ?? DEFAULT_RETRY,
    signal: abort.signal,
    onProgress: opts.onProgress,
    onSizeLearned: (bytes) => {
      plan.bytes += bytes;
      opts.onPlan?.({ ...plan });
    },
    onRetry: (rel, reason) => {
      result.retries++;
      opts.onRetry?.(rel, reason);
    },
  };

  // The index, when it is needed: for --all, and to resolve abbreviated IDs.
  let listedImages: string[] | undefined;
  const listedBlobs: string[] = [];
  const needIndex = what === 'all' || what.some((w) => !DIGEST_RE.test(w.toLowerCase()));
  if (needIndex) {
    listedImages = [];
    const text = await downloadText(ctx, ALL_TXT, ALL_TXT_MAX_BYTES);
    for (const line of text.split('\n')) {
      if (line === '') continue;
      const entry = parseIndexLine(line);
      if (entry.kind === 'invalid') result.notPulled.push(`${JSON.stringify(line.slice(0, 200))} (${entry.reason})`);
      else if (entry.kind === 'other') result.notPulled.push(entry.rel);
      else (entry.kind === 'image' ? listedImages : listedBlobs).push(entry.digest);
    }
  }
  const ids = what === 'all' ? [...new Set(listedImages)] : resolveIds(what, listedImages);

  // Manifests first: they say which blobs to fetch and how large each must be.
  const manifests = new Map<string, { manifest: Manifest; bytes?: Buffer }>();
  await pool(ids, jobs, abort, async (id) => {
    const local = await readManifest(storeDir, id).catch(() => null);
    if (local !== null) {
      manifests.set(id, { manifest: local });
      return;
    }
    const rel = imageRelPath(id);
    const bytes = await downloadManifest(ctx, rel, id);
    const parsed = attempt(() => parseManifest(bytes));
    if (!parsed.ok)
      throw new DownloadError(rel, mirrorFileUrl(mirror, rel), `invalid manifest: ${parsed.error.message}`);
    manifests.set(id, { manifest: parsed.value, bytes });
    result.manifestsFetched++;
  });

  const wants = new Map<string, BlobWant>();
  for (const id of ids) {
    for (const b of Object.values(manifests.get(id)!.manifest.blobs))
      if (!wants.has(b.digest)) wants.set(b.digest, { digest: b.digest, size: b.size });
  }
  // With --all, blobs no manifest names are fetched too (verified by digest alone: no size is known).
  if (what === 'all') for (const digest of listedBlobs) if (!wants.has(digest)) wants.set(digest, { digest });

  const missing: BlobWant[] = [];
  await pool([...wants.values()], jobs, abort, async (w) => {
    if (await storedBlobIsSound(storeDir, w.digest, w.size)) result.blobsPresent++;
    else missing.push(w);
  });
  plan.files = missing.length;
  plan.bytes = missing.reduce((n, w) => n + (w.size ?? 0), 0);
  opts.onPlan?.({ ...plan });

  // Largest first, so the last downloads to finish are small ones and the connections stay busy.
  missing.sort((a, b) => (b.size ?? 0) - (a.size ?? 0));
  let failure: unknown;
  try {
    await pool(missing, jobs, abort, async (w) => {
      const rel = blobRelPath(w.digest);
      const shared = opts.shared ?? new SharedDownloads();
      for (;;) {
        let got: Awaited<ReturnType<typeof downloadBlob>> | undefined;
        const ran = await shared.once(w.digest, async () => {
          got = await downloadBlob(ctx, rel, w.digest, w.size);
        });
        if (ran) {
          result.blobsFetched++;
          result.bytesFetched += got!.size - got!.resumed;
          result.bytesResumed += got!.resumed;
          break;
        }
        // Another pull of this process was fetching it: done if it succeeded, else our turn.
        if (await storedBlobIsSound(storeDir, w.digest, w.size)) {
          result.blobsPresent++;
          opts.onProgress?.(w.size ?? 0);
          break;
        }
      }
      opts.onFileDone?.();
    });
  } catch (err) {
    failure = err;
  }

  // Every image whose blobs are all in place is written, even after a failure elsewhere.
  for (const id of ids) {
    const m = manifests.get(id)!;
    const complete = await checkBlobsPresent(storeDir, m.manifest).then(
      () => true,
      () => false,
    );
    if (!complete) continue;
    if (m.bytes !== undefined) await putManifest(storeDir, id, m.bytes);
    result.images.push(id);
  }
  // Nothing partial is left after a pull that succeeded; an empty directory need not stay either.
  await rmdir(join(storeDir, PARTIAL_DIR)).catch(() => {});
  if (failure !== undefined) throw failure;
  return result;
}
