// The interactive commands against a real VM (`tml-supervisor --host qemu`, the test image): the
// forwarded SSH port reaches the job status and `tml job ssh` logs in as the user tml with tml's
// own key, and what `tml job console` sends reaches the guest's serial port.

import test from 'ava';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { JobStatus } from '../../protocol/switchboard-api.js';
import { cliPath, runCli, type Service } from '../../scripts/child-processes.js';
import { ANY_EXIT_CODE, LocalCluster } from '../../scripts/local-cluster.js';
import { storeTestVmImage } from '../../scripts/test-vm-image.js';
import { sharedBase, vmLock, vmTestsCanRun } from '../qemu/vm.js';

// Waits for one line on the serial port, answers it there, then finishes the job.
const WORKLOAD = `#!/bin/sh
tml-puppet job substate "reading the serial port"
read -r line < /dev/ttyS0
echo "workload: got $line" > /dev/ttyS0
exec tml-puppet job finish --status success --terminate
`;

let cluster: LocalCluster;
let supervisor: Service;
let imageId = '';
let env: NodeJS.ProcessEnv = {};
let release: (() => void) | null = null;

async function tml(args: string[], okCodes: number[] = [0]) {
  return runCli(cliPath('tml/cli.js'), args, { env, okCodes });
}

async function status(id: string): Promise<JobStatus> {
  return JSON.parse((await tml(['job', 'status', id, '--json'])).stdout) as JobStatus;
}

if (vmTestsCanRun(test, 'interactive VM tests')) {
  test.before(async (t) => {
    t.timeout(20 * 60_000);
    release = await vmLock();
    const base = await sharedBase();
    cluster = await LocalCluster.create({ prefix: 'tml-e2e-interactive-vm-' });
    imageId = await storeTestVmImage(cluster.store, base, WORKLOAD);
    await cluster.prepareDatabase('ci', 'vm-1', 'board:vm');
    await cluster.startSwitchboard();
    supervisor = cluster.startSupervisor({
      host: 'qemu',
      hostArgs: ['--qemu-state-dir', join(cluster.dir, 'state')],
    });
    const clean: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('TML_')) clean[k] = v;
    const token = (
      await runCli(cliPath('switchboard/cli.js'), ['token', 'create', '--db', cluster.db, '--user', 'ci'], {
        env: clean,
      })
    ).stdout.trim();
    env = {
      ...clean,
      TML_API_TOKEN: token,
      TML_SWITCHBOARD_URL: cluster.url,
      XDG_DATA_HOME: join(cluster.dir, 'xdg-data'),
      XDG_CONFIG_HOME: join(cluster.dir, 'xdg-config'),
    };
  });

  test.after.always(async () => {
    await cluster?.close();
    release?.();
  });

  test.serial(
    'a VM job: tml job ssh logs in as tml at the reported endpoint; console input reaches ttyS0',
    async (t) => {
      t.timeout(300_000);
      const { stdout } = await tml(['job', 'enqueue', imageId, '--tag-config', 'board:vm', '--internal-ssh-key']);
      const id = (JSON.parse(stdout) as { job_id: string }).job_id;
      const deadline = Date.now() + 240_000;
      let s = await status(id);
      while (s.status_message !== 'reading the serial port') {
        if (s.state.type === 'terminated' || !supervisor.running || Date.now() > deadline) {
          t.fail(`the workload did not come up: ${JSON.stringify(s)} ${supervisor.stderr.slice(-2000)}`);
          return;
        }
        await new Promise((r) => setTimeout(r, 500));
        s = await status(id);
      }
      t.like(s.state, { type: 'ready', ssh_user: 'tml' });
      t.regex(String(s.state.ssh_endpoints?.[0]?.port), /^\d+$/);

      const login = await tml(['job', 'ssh', id, '--', 'id -un; cat /run/tml/job-id']);
      t.deepEqual(login.stdout.trim().split('\n'), ['tml', id]);

      const session = spawn(process.execPath, [cliPath('tml/cli.js'), 'job', 'console', id], { env, stdio: 'pipe' });
      let out = '';
      session.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
      const exited = new Promise<number | null>((resolve) => session.once('close', (c) => resolve(c)));
      // Typed once the session is attached: input before it would be sent before the console is shown.
      await new Promise((r) => setTimeout(r, 3000));
      session.stdin.write('hello serial\r');
      t.is(await exited, 0, 'the job ends while attached, successfully');
      t.regex(out, /workload: got hello serial/);
      t.is((await tml(['job', 'wait', id], ANY_EXIT_CODE)).code, 0);
    },
  );
}
