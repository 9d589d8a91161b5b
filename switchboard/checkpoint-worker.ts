// Runs SQLite WAL checkpoints on its own thread and connection, so their fsyncs do not stall the
// switchboard's event loop (the main connection has automatic checkpoints turned off).
//
// PASSIVE checkpoints copy committed pages without blocking the writer, but under constant writes
// they never catch up completely, and SQLite only rewinds the WAL once a checkpoint has. So when
// the WAL is long, a RESTART checkpoint briefly holds off writers (the PASSIVE ones left it little
// to copy) and makes the next write start the WAL from its beginning, bounding its size.

import Database from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';

const { path, intervalMs, restartFrames } = workerData as { path: string; intervalMs: number; restartFrames: number };
const db = new Database(path);
db.pragma('busy_timeout = 5000');

const timer = setInterval(() => {
  try {
    const [row] = db.pragma('wal_checkpoint(PASSIVE)') as Array<{ busy: number; log: number; checkpointed: number }>;
    if (row && row.log >= restartFrames) db.pragma('wal_checkpoint(RESTART)');
  } catch (err) {
    parentPort!.postMessage(`checkpoint failed: ${(err as Error).message}`);
  }
}, intervalMs);

parentPort!.on('message', (msg) => {
  if (msg !== 'stop') return;
  clearInterval(timer);
  db.close();
  parentPort!.close();
});
