import { createHash, type Hash } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import type { StreamHashReply, StreamHashRequest } from './stream-hasher.js';

// Many streams at once (the downloads of one pull), each hashed in the order its steps arrive, from
// the slots of the memory it shares with the main thread.
const port = parentPort!;
const memory = workerData as SharedArrayBuffer;
const streams = new Map<number, Hash>();
port.on('message', (req: StreamHashRequest) => {
  let hash = streams.get(req.id);
  if (hash === undefined) {
    hash = createHash('sha256');
    streams.set(req.id, hash);
  }
  if ('offset' in req) {
    hash.update(new Uint8Array(memory, req.offset, req.length));
    port.postMessage({ id: req.id, offset: req.offset } satisfies StreamHashReply);
    return;
  }
  streams.delete(req.id);
  if ('end' in req) port.postMessage({ id: req.id, digest: hash.digest('hex') } satisfies StreamHashReply);
});
