// tml-supervisor --host qemu: its settings are checked before anything starts.

import test from 'ava';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../supervisor/cli.js', import.meta.url));

async function run(args: string[]): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(
    process.execPath,
    [
      CLI,
      '--switchboard',
      'http://127.0.0.1:9',
      '--id',
      '00000000-0000-4000-8000-000000000000',
      '--store',
      tmpdir(),
      '--host',
      'qemu',
      ...args,
    ],
    { env: { PATH: process.env.PATH, TML_SUPERVISOR_TOKEN: 't' }, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, stderr };
}

test('a bad --qemu-* value exits 2 with one line naming the key', async (t) => {
  const { code, stderr } = await run(['--qemu-control-socket-listen-addr', 'nowhere']);
  t.is(code, 2);
  t.is(stderr, 'tml-supervisor: qemu.tcp_control_socket_listen_addr must be HOST:PORT or [IPV6]:PORT\n');
});

test('an unknown key in the --qemu-config file is refused', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tml-cli-qemu-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'supervisor.toml');
  await writeFile(file, '[base]\nsupervisor_id = "x"\n[qemu]\nqemu_binray = "qemu-kvm"\n');
  const { code, stderr } = await run(['--qemu-config', file]);
  t.is(code, 2);
  t.is(stderr, 'tml-supervisor: qemu has unknown field "qemu_binray"\n');
});

test('a --qemu-config file that cannot be read is refused', async (t) => {
  const { code, stderr } = await run(['--qemu-config', '/nonexistent/supervisor.toml']);
  t.is(code, 2);
  t.is(stderr, 'tml-supervisor: cannot read --qemu-config /nonexistent/supervisor.toml: ENOENT\n');
});
