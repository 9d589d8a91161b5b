// Kept in its own file: the test blocks its process's event loop to play a supervisor that
// stops reading, which would stall tests running next to it.
import test from 'ava';
import { once } from 'node:events';
import { promises as fs } from 'node:fs';
import { startJob, waitFor } from './harness.js';

test('a fast producer is paused while the supervisor does not read, so memory stays bounded', async (t) => {
  const job = await startJob(t);
  const run = job.server.runCommand('yes');
  let received = 0;
  let paused = false;
  run.on('output', (c: Buffer) => {
    received += c.length;
    if (!paused && received > 1024 * 1024) {
      paused = true;
      // stop reading: the supervisor's event loop is busy for a while
      const until = Date.now() + 1500;
      while (Date.now() < until);
    }
  });
  await waitFor('output to start', () => paused);
  const status = await fs.readFile(`/proc/${job.daemon.pid}/status`, 'utf8');
  const hwmKiB = Number(/VmHWM:\s+(\d+)/.exec(status)![1]);
  t.true(hwmKiB < 200 * 1024, `daemon peak RSS ${hwmKiB} KiB`);
  const exited = once(run, 'exit');
  run.kill();
  t.deepEqual(await exited, [null, true]);
});
