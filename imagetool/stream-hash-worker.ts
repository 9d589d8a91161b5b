import { createHash, type Hash } from 'node:crypto';
import { parentPort } from 'node:worker_threads';
import type { StreamHashReply, StreamHashRequest } from './stream-hasher.js';

// Many streams at once (the downloads of one pull), each hashed in the order its chunks arrive.
const port = parentPort!;
const streams = new Map<number, Hash>();
port.on('message', (req: StreamHashRequest) => {
  let hash = streams.get(req.id);
  if (hash === undefined) {
    hash = createHash('sha256');
    streams.set(req.id, hash);
  }
  if ('chunk' in req) {
    hash.update(req.chunk);
    // The buffer goes back to be filled again: no garbage per chunk on either thread.
    const buffer = req.chunk.buffer as ArrayBuffer;
    port.postMessage({ id: req.id, hashed: req.chunk.byteLength, buffer } satisfies StreamHashReply, [buffer]);
    return;
  }
  streams.delete(req.id);
  if ('end' in req) port.postMessage({ id: req.id, digest: hash.digest('hex') } satisfies StreamHashReply);
});
