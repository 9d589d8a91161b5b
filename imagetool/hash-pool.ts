import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { DigestResult, ProgressFn } from './digest.js';

export interface HashRequest { id: number; path: string }
export type HashReply =
  | { id: number; progress: number }
  | { id: number; digest: string; size: number }
  | { id: number; error: string };

export type HashOutcome = ({ ok: true } & DigestResult) | { ok: false; error: string };

export interface HashJob { path: string; size: number }

/**
 * Hashes files on worker threads, one per core, largest file first so the last file to finish is a small
 * one and no core idles while another hashes a big blob. Hashing on the main thread would be capped at one
 * core no matter how many streams were open (measured: see bench/imagetool.ts).
 */
export async function hashFiles(jobs: HashJob[], opts: { onProgress?: ProgressFn; threads?: number } = {}): Promise<HashOutcome[]> {
  const outcomes: HashOutcome[] = new Array(jobs.length);
  if (jobs.length === 0) return outcomes;
  const order = jobs.map((j, id) => ({ ...j, id })).sort((a, b) => b.size - a.size);
  const threads = Math.max(1, Math.min(opts.threads ?? availableParallelism(), order.length));
  let next = 0;
  const runWorker = (): Promise<void> => new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./hash-worker.js', import.meta.url));
    const feed = (): void => {
      const job = order[next++];
      if (job) worker.postMessage({ id: job.id, path: job.path } satisfies HashRequest);
      else void worker.terminate().then(() => resolve());
    };
    worker.on('message', (reply: HashReply) => {
      if ('progress' in reply) {
        opts.onProgress?.(reply.progress);
        return;
      }
      outcomes[reply.id] = 'error' in reply ? { ok: false, error: reply.error } : { ok: true, digest: reply.digest, size: reply.size };
      feed();
    });
    worker.on('error', reject);
    feed();
  });
  await Promise.all(Array.from({ length: threads }, runWorker));
  return outcomes;
}
