// Fetch on demand: an image a job needs that the local store lacks (or holds damaged) is pulled from
// the supervisor's mirrors before the host starts, with progress as the job's status message.

import { parseMirrorUrl, pullImages, SharedDownloads, type PullPlan, type RetryPolicy } from '../imagetool/index.js';
import type { Logger } from '../protocol/log.js';

/** Status messages are sent at most this often: a job's event stream is not a progress bar. */
const STATUS_EVERY_MS = 1000;
const MiB = 1 << 20;

/**
 * Checks and normalises mirror URLs (`--image-mirror`, upstream config's `[image_store] http_endpoint`);
 * throws an Error with a one-line message for the first bad one.
 */
export function parseImageMirrors(urls: readonly string[]): string[] {
  return urls.map((u) => {
    try {
      return parseMirrorUrl(u).href;
    } catch (err) {
      throw new Error(`image mirror: ${(err as Error).message}`);
    }
  });
}

/** "fetching: 312 of 940 MiB" (one decimal below 10 MiB, so small images still show movement). */
export function fetchStatus(done: number, total: number): string {
  const digits = total < 10 * MiB ? 1 : 0;
  const mib = (n: number): string => (n / MiB).toFixed(digits);
  return `fetching: ${mib(Math.min(done, total))} of ${mib(total)} MiB`;
}

export class ImageFetchError extends Error {}

export interface ImageFetcherOptions {
  storeDir: string;
  /** mirror base URLs, tried in order */
  mirrors: string[];
  log: Logger;
  /** downloads in parallel per pull (default: the library's) */
  jobs?: number;
  /** retries of transient failures (default: the library's, about 8 s of backoff) */
  retry?: RetryPolicy;
}

/**
 * Pulls images into the supervisor's store. One instance per supervisor: its SharedDownloads make two
 * jobs that need the same blob wait for one download instead of running two.
 */
export class ImageFetcher {
  private readonly shared = new SharedDownloads();
  private readonly abort = new AbortController();

  constructor(private readonly opts: ImageFetcherOptions) {}

  /** Pulls the image from the first mirror that has it; throws ImageFetchError naming each mirror's reason. */
  async fetch(imageId: string, onStatus?: (message: string) => void): Promise<void> {
    const reasons: string[] = [];
    for (const mirror of this.opts.mirrors) {
      let plan: PullPlan = { files: 0, bytes: 0 };
      let done = 0;
      let lastSent = 0;
      const report = (force: boolean): void => {
        const now = Date.now();
        if (!force && now - lastSent < STATUS_EVERY_MS) return;
        lastSent = now;
        onStatus?.(fetchStatus(done, plan.bytes));
      };
      this.opts.log.info(`image ${imageId}: fetching from ${mirror}`);
      try {
        const result = await pullImages(this.opts.storeDir, mirror, [imageId], {
          jobs: this.opts.jobs,
          retry: this.opts.retry,
          shared: this.shared,
          signal: this.abort.signal,
          onPlan: (p) => {
            const first = plan.files === 0 && plan.bytes === 0;
            plan = p;
            report(first);
          },
          onProgress: (bytes) => {
            done += bytes;
            report(false);
          },
          onRetry: (rel, reason) => this.opts.log.warn(`image ${imageId}: ${rel}: ${reason}; retrying`),
        });
        this.opts.log.info(
          `image ${imageId}: fetched ${result.blobsFetched} blob(s), ${(result.bytesFetched / MiB).toFixed(1)} MiB, from ${mirror}`,
        );
        return;
      } catch (err) {
        if (this.abort.signal.aborted) throw new ImageFetchError(`fetching image ${imageId} was stopped`);
        const reason = err instanceof Error ? err.message : String(err);
        this.opts.log.warn(`image ${imageId}: ${mirror}: ${reason}`);
        reasons.push(this.opts.mirrors.length > 1 ? `${mirror}: ${reason}` : reason);
      }
    }
    throw new ImageFetchError(`image ${imageId} could not be fetched: ${reasons.join('; ')}`);
  }

  /** Stops every pull (the supervisor is going away); their partial downloads stay for the next start. */
  close(): void {
    this.abort.abort();
  }
}
