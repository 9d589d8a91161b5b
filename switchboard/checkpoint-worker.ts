// Runs SQLite WAL checkpoints on its own thread and connection, so their fsyncs never stall the
// switchboard's event loop (the main connection has automatic checkpoints turned off).

import Database from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';

const { path, intervalMs } = workerData as { path: string; intervalMs: number };
const db = new Database(path);
db.pragma('busy_timeout = 5000');

const timer = setInterval(() => {
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
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
