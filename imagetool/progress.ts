import { SingleBar } from 'cli-progress';
import { formatBytes } from './render.js';

export interface Progress {
  onStart: (totalBytes: number) => void;
  onProgress: (bytes: number) => void;
  stop: () => void;
}

/** A byte-progress bar on stderr, only when stderr is a terminal: logs and pipes get no escape codes. */
export function progressBar(label: string, enabled: boolean): Progress {
  if (!enabled || !process.stderr.isTTY) return { onStart: () => {}, onProgress: () => {}, stop: () => {} };
  const bar = new SingleBar({
    stream: process.stderr,
    format: `${label} [{bar}] {percentage}% | {done} / {size} | {rate}/s | ETA {eta_formatted}`,
    hideCursor: true,
    clearOnComplete: true,
    etaBuffer: 50,
  });
  let done = 0;
  let started = 0;
  const payload = (): Record<string, string> => {
    const secs = (Date.now() - started) / 1000;
    return { done: formatBytes(done), size: formatBytes(bar.getTotal()), rate: formatBytes(secs > 0 ? Math.round(done / secs) : 0) };
  };
  return {
    onStart: (total) => {
      started = Date.now();
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
