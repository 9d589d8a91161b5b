// Texts over the caps, through the real CLIs: a switchboard, a local supervisor, the puppet and a
// boot script that declares a 2 MiB result. The job ends with the declared status and the output cut
// to the cap, and the supervisor's connection to the switchboard never breaks over it.

import test from 'ava';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { JobStatus } from '../../protocol/switchboard-api.js';
import { MAX_WORKLOAD_OUTPUT_BYTES, truncationMarker } from '../../protocol/text-caps.js';
import { ANY_EXIT_CODE, LocalCluster } from '../../scripts/local-cluster.js';

const OUTPUT_BYTES = 2 * 1024 * 1024;

const BOOT_SCRIPT = `#!/bin/sh
tml-puppet job substate "$(head -c 100000 /dev/zero | tr '\\0' s)"
head -c ${OUTPUT_BYTES} /dev/zero | tr '\\0' o > output
exec tml-puppet job finish --status error --output-file output --terminate
`;

test('a 2 MiB job finish output ends the job with the declared status and the output cut to the cap', async (t) => {
  t.timeout(60_000);
  const cluster = await LocalCluster.create({ prefix: 'tml-large-' });
  t.teardown(() => cluster.close());
  await writeFile(join(cluster.dir, 'boot.sh'), BOOT_SCRIPT);
  await writeFile(
    join(cluster.dir, 'image.toml'),
    'label = "large"\n[attrs]\n"org.tockos.treadmill.image.local_v0.entrypoint" = "boot"\n[blobs.boot]\npath = "boot.sh"\n',
  );
  const image = await cluster.buildImage(join(cluster.dir, 'image.toml'));
  await cluster.prepareDatabase('ci', 'local-1', 'board:local');
  await cluster.startSwitchboard();
  const supervisor = cluster.startSupervisor();

  const { stdout } = await cluster.tml(['job', 'enqueue', image, '--tag-config', 'board:local']);
  const jobId = (JSON.parse(stdout) as { job_id: string }).job_id;
  await cluster.tml(['job', 'wait', jobId, '--timeout', '30s'], ANY_EXIT_CODE);
  const status = JSON.parse((await cluster.tml(['job', 'status', jobId, '--json'])).stdout) as JobStatus;

  t.is(status.state.type, 'terminated');
  t.is(status.state.result?.exit_status, 'workload_finished_error');
  const output = status.state.result?.host_output ?? '';
  t.true(Buffer.byteLength(output) <= MAX_WORKLOAD_OUTPUT_BYTES, `${Buffer.byteLength(output)} bytes`);
  t.true(output.startsWith('oooo'));
  t.true(output.endsWith(truncationMarker(OUTPUT_BYTES)));
  t.true(supervisor.running);
  t.notRegex(supervisor.stderr, /connection closed|cannot connect/);
});
