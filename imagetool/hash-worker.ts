import { parentPort } from 'node:worker_threads';
import { hashFileSync } from './digest.js';
import type { HashReply, HashRequest } from './hash-pool.js';

// One file at a time per worker: the pool hands out the next file when this one is done.
const port = parentPort!;
port.on('message', (req: HashRequest) => {
  const post = (reply: HashReply): void => port.postMessage(reply);
  try {
    const r = hashFileSync(req.path, (bytes) => post({ id: req.id, progress: bytes }));
    post({ id: req.id, digest: r.digest, size: r.size });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    post({ id: req.id, error: e.code ?? e.message });
  }
});
