import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { DigestResult, ProgressFn } from './digest.js';

export interface HashRequest {
  id: number;
  path: string;
}
export type HashReply =
  { id: number; progress: number } | { id: number; digest: string; size: number } | { id: number; error: string };

export type HashOutcome = ({ ok: true } & DigestResult) | { ok: false; error: string };

export interface HashJob {
  path: string;
  size: number;
}

/**
 * Hashes files on worker threads, one per core, largest file first so the last file to finish is a small
 * one and no core idles while another hashes a big blob. Hashing on the main thread would be capped at one
 * core no matter how many streams were open (measured: see bench/imagetool.ts). Workers start when the
 * pool is created, so their ~60 ms boot overlaps whatever the caller does before hashing.
 */
export class HashPool {
  private readonly workers: Worker[];

  constructor(threads = availableParallelism()) {
    this.workers = Array.from(
      { length: Math.max(1, threads) },
      () => new Worker(new URL('./hash-worker.js', import.meta.url)),
    );
  }

  async hash(jobs: HashJob[], onProgress?: ProgressFn): Promise<HashOutcome[]> {
    const outcomes: HashOutcome[] = new Array(jobs.length);
    const order = jobs.map((j, id) => ({ ...j, id })).sort((a, b) => b.size - a.size);
    let next = 0;
    const drive = (worker: Worker): Promise<void> =>
      new Promise((resolve, reject) => {
        const feed = (): void => {
          const job = order[next++];
          if (job) {
            worker.postMessage({ id: job.id, path: job.path } satisfies HashRequest);
            return;
          }
          worker.off('message', onMessage);
          worker.off('error', reject);
          resolve();
        };
        const onMessage = (reply: HashReply): void => {
          if ('progress' in reply) {
            onProgress?.(reply.progress);
            return;
          }
          outcomes[reply.id] =
            'error' in reply ? { ok: false, error: reply.error } : { ok: true, digest: reply.digest, size: reply.size };
          feed();
        };
        worker.on('message', onMessage);
        worker.on('error', reject);
        feed();
      });
    await Promise.all(this.workers.map(drive));
    return outcomes;
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
