import type { SingleBar as Bar } from 'cli-progress';
import { createRequire } from 'node:module';
import { formatBytes } from './render.js';

/** cli-progress is loaded only when a bar is drawn: pipes, logs and --quiet never pay for it. */
function loadBar(): typeof Bar {
  return (createRequire(import.meta.url)('cli-progress') as { SingleBar: typeof Bar }).SingleBar;
}

export interface Progress {
  onStart: (totalBytes: number) => void;
  onProgress: (bytes: number) => void;
  stop: () => void;
}

/** A byte-progress bar on stderr, only when stderr is a terminal: logs and pipes get no escape codes. */
export function progressBar(label: string, enabled: boolean): Progress {
  if (!enabled || !process.stderr.isTTY) return { onStart: () => {}, onProgress: () => {}, stop: () => {} };
  const bar = new (loadBar())({
    stream: process.stderr,
    format: `${label} [{bar}] {percentage}% | {done} / {size} | {rate}/s | ETA {eta_formatted}`,
    hideCursor: true,
    clearOnComplete: true,
    etaBuffer: 50,
  });
  let done = 0;
  let started = 0;
  let total = 0;
  const payload = (): Record<string, string> => {
    const secs = (Date.now() - started) / 1000;
    return {
      done: formatBytes(done),
      size: formatBytes(total),
      rate: formatBytes(secs > 0 ? Math.round(done / secs) : 0),
    };
  };
  return {
    onStart: (bytes) => {
      started = Date.now();
      total = bytes;
      bar.start(total, 0, payload());
    },
    onProgress: (bytes) => {
      done += bytes;
      bar.update(done, payload());
    },
    stop: () => {
      if (started !== 0) bar.stop();
    },
  };
}

/** Runs `work` with a progress bar that is gone from the terminal before the caller prints results. */
export async function withProgress<T>(label: string, enabled: boolean, work: (p: Progress) => Promise<T>): Promise<T> {
  const bar = progressBar(label, enabled);
  try {
    return await work(bar);
  } finally {
    bar.stop();
  }
}

export interface PullProgress {
  onPlan: (plan: { files: number; bytes: number }) => void;
  onProgress: (bytes: number) => void;
  onFileDone: () => void;
  stop: () => void;
}

/** pull's bar on stderr (a terminal only): files done of total, bytes, rate and ETA. */
export function pullProgressBar(enabled: boolean): PullProgress {
  if (!enabled || !process.stderr.isTTY)
    return { onPlan: () => {}, onProgress: () => {}, onFileDone: () => {}, stop: () => {} };
  const bar = new (loadBar())({
    stream: process.stderr,
    format: 'pulling [{bar}] {percentage}% | {files} files | {done} / {size} | {rate}/s | ETA {eta_formatted}',
    hideCursor: true,
    clearOnComplete: true,
    etaBuffer: 50,
  });
  let started = 0;
  let done = 0;
  let total = 0;
  let files = 0;
  let filesDone = 0;
  const payload = (): Record<string, string> => {
    const secs = (Date.now() - started) / 1000;
    return {
      files: `${filesDone}/${files}`,
      done: formatBytes(done),
      size: formatBytes(total),
      rate: formatBytes(secs > 0 ? Math.round(done / secs) : 0),
    };
  };
  return {
    onPlan: (plan) => {
      files = plan.files;
      total = plan.bytes;
      if (started === 0) {
        started = Date.now();
        bar.start(Math.max(total, 1), done, payload());
      } else bar.setTotal(Math.max(total, 1));
    },
    onProgress: (bytes) => {
      done += bytes;
      if (started !== 0) bar.update(done, payload());
    },
    onFileDone: () => {
      filesDone++;
      if (started !== 0) bar.update(done, payload());
    },
    stop: () => {
      if (started !== 0) bar.stop();
    },
  };
}
