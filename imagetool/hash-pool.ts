import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { hashFileInTurns, type DigestResult, type ProgressFn } from './digest.js';

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

const newWorker = (): Worker => new Worker(new URL('./hash-worker.js', import.meta.url));

/** Workers started by bootWorkers, until a pool takes them; they keep no process alive meanwhile. */
const booted: Worker[] = [];

/**
 * Starts the workers of the next HashPool now: a worker takes ~40 ms to boot, which the caller
 * overlaps with its own start-up (tml-imagetool verify, while its arguments are parsed).
 */
export function bootWorkers(threads = availableParallelism()): void {
  while (booted.length < threads - 1) {
    const worker = newWorker();
    worker.unref();
    booted.push(worker);
  }
}

/**
 * Hashes files on one thread per core, largest file first so the last file to finish is a small one and
 * no core idles while another hashes a big blob. This thread is one of them (between its chunks it hands
 * the workers their next files), so one worker fewer boots and hashing starts before any has booted.
 * Hashing on this thread alone would be capped at one core no matter how many streams were open
 * (measured: see bench/imagetool.ts). Workers start when the pool is created, so their ~30 ms boot
 * overlaps whatever the caller does before hashing (or bootWorkers started them earlier still).
 */
export class HashPool {
  private readonly workers: Worker[];

  constructor(threads = availableParallelism()) {
    const count = Math.max(0, threads - 1);
    this.workers = booted.splice(0, count);
    for (const w of this.workers) w.ref();
    while (this.workers.length < count) this.workers.push(newWorker());
  }

  /** `onHashed` hears of each file as soon as it is hashed, by its index in `jobs`. */
  async hash(
    jobs: HashJob[],
    onProgress?: ProgressFn,
    onHashed?: (index: number, outcome: HashOutcome) => void,
  ): Promise<HashOutcome[]> {
    const outcomes: HashOutcome[] = new Array(jobs.length);
    const order = jobs.map((j, id) => ({ ...j, id })).sort((a, b) => b.size - a.size);
    let next = 0;
    const done = (id: number, outcome: HashOutcome): void => {
      outcomes[id] = outcome;
      onHashed?.(id, outcome);
    };
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
          done(
            reply.id,
            'error' in reply ? { ok: false, error: reply.error } : { ok: true, digest: reply.digest, size: reply.size },
          );
          feed();
        };
        worker.on('message', onMessage);
        worker.on('error', reject);
        feed();
      });
    const here = async (): Promise<void> => {
      for (let job = order[next++]; job; job = order[next++]) {
        let outcome: HashOutcome;
        try {
          outcome = { ok: true, ...(await hashFileInTurns(job.path, onProgress)) };
        } catch (err) {
          const e = err as NodeJS.ErrnoException;
          outcome = { ok: false, error: e.code ?? e.message };
        }
        done(job.id, outcome);
      }
    };
    await Promise.all([...this.workers.map(drive), here()]);
    return outcomes;
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
