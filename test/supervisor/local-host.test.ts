import test from 'ava';
import { silentLogger } from '../../protocol/log.js';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { PuppetEvent } from '../../protocol/control-socket/messages.js';
import type { HostCallbacks, HostExit, HostSpec } from '../../supervisor/hosts/host.js';
import { LocalHostBackend } from '../../supervisor/hosts/local.js';
import { findPuppet } from '../../supervisor/hosts/puppet-command.js';
import { JOB_ID } from './fakes.js';
import { alive, imageWithBootScript, processesMentioning, type Fixture } from './local-fixtures.js';

/** Records what a local host reports, and resolves once it ended (exit or start error). */
function recorder() {
  const seen: string[] = [];
  const puppetEvents: PuppetEvent[] = [];
  let console = '';
  let resolveEnd!: (how: string) => void;
  const ended = new Promise<string>((r) => (resolveEnd = r));
  let resolveReady!: () => void;
  const ready = new Promise<void>((r) => (resolveReady = r));
  const cb: HostCallbacks = {
    onStage: (stage) => seen.push(stage),
    onReady: () => {
      seen.push('ready');
      resolveReady();
    },
    onPuppetEvent: (e) => puppetEvents.push(e),
    onConsole: (chunk) => {
      console += chunk.toString();
    },
    onStartError: (message, kind) => resolveEnd(`start error${kind ? ` (${kind})` : ''}: ${message}`),
    onRebooting: (message) => seen.push(`rebooting: ${message}`),
    onExit: (exit: HostExit) =>
      resolveEnd(
        exit.kind === 'machine' ? `machine exit ${exit.reason}` : `${exit.kind} exit ${exit.signal ?? exit.code}`,
      ),
  };
  return { cb, seen, puppetEvents, ended, ready, console: () => console };
}

function spec(f: Fixture, parameters: HostSpec['parameters'] = {}): HostSpec {
  return {
    jobId: JOB_ID,
    imageId: f.imageId,
    manifest: f.manifest,
    storeDir: f.storeDir,
    jobDir: f.jobDir,
    sshKeys: [],
    parameters,
  };
}

const backend = new LocalHostBackend({ puppet: findPuppet(), log: silentLogger, stopGraceMs: 500 });

test('the boot script runs after ready with the puppet, its socket and the parameters at hand', async (t) => {
  const f = await imageWithBootScript(`#!/bin/sh
set -eu
echo "job=$TML_JOB_ID"
echo "greeting=$(tml-puppet parameter get greeting)"
echo "secret-bytes=$(wc -c < "$TML_PARAMETERS_DIR/token" | tr -d ' ')"
echo "socket=$TML_PUPPET_SOCKET"
echo "supervisor-token=\${TML_SUPERVISOR_TOKEN:-unset}"
tml-puppet job substate "half way"
tml-puppet job finish --status success --output "all good"
echo oops >&2
`);
  t.teardown(f.cleanup);
  const r = recorder();
  process.env.TML_SUPERVISOR_TOKEN = 'must-not-leak';
  const host = backend.start(
    spec(f, { greeting: { value: 'hello', secret: false }, token: { value: 'abcdef', secret: true } }),
    r.cb,
  );
  t.teardown(() => host.stop());
  const how = await r.ended;
  delete process.env.TML_SUPERVISOR_TOKEN;
  t.is(how, 'boot-script exit 0');
  t.deepEqual(r.seen, ['provisioning', 'booting', 'ready']);
  t.is(
    r.console(),
    [
      `job=${JOB_ID}`,
      'greeting=hello',
      'secret-bytes=6',
      `socket=${join(f.jobDir, 'puppet.sock')}`,
      'supervisor-token=unset',
      'oops',
      '',
    ].join('\n'),
  );
  t.deepEqual(
    r.puppetEvents.filter((e) => e.type === 'reportsubstate' || e.type === 'declareworkloadexitstatus'),
    [
      { type: 'reportsubstate', substate: 'half way' },
      { type: 'declareworkloadexitstatus', workload_exit_status: 'success', workload_output: 'all good' },
    ],
  );
  t.is(await readFile(join(f.jobDir, 'job-id'), 'utf8'), JOB_ID);
});

test('stop kills the boot script and everything it started, and the puppet', async (t) => {
  const f = await imageWithBootScript(`#!/bin/sh
sleep 300 &
echo $! > child.pid
echo $$ > boot.pid
echo started
wait
`);
  t.teardown(f.cleanup);
  const r = recorder();
  const host = backend.start(spec(f), r.cb);
  await r.ready;
  while (!r.console().includes('started')) await new Promise((res) => setTimeout(res, 10));
  const pids = await Promise.all(
    ['child.pid', 'boot.pid'].map(async (n) => Number(await readFile(join(f.jobDir, n), 'utf8'))),
  );
  t.true(pids.every(alive));
  t.true(processesMentioning(f.jobDir).length > 0, 'the puppet runs with the job directory in its arguments');
  await host.stop();
  t.deepEqual(pids.map(alive), [false, false]);
  t.deepEqual(processesMentioning(f.jobDir), []);
});

test('an image without the local entrypoint attribute cannot start: ImageNotCompatible', async (t) => {
  const f = await imageWithBootScript('#!/bin/sh\n', { entrypoint: false });
  t.teardown(f.cleanup);
  const r = recorder();
  const host = backend.start(spec(f), r.cb);
  t.teardown(() => host.stop());
  t.regex(
    await r.ended,
    /^start error \(ImageNotCompatible\): image [0-9a-f]{64} has no attribute org\.tockos\.treadmill\.image\.local_v0\.entrypoint/,
  );
});

test('a puppet that cannot start is a start error that says why', async (t) => {
  const f = await imageWithBootScript('#!/bin/sh\n');
  t.teardown(f.cleanup);
  const r = recorder();
  const broken = new LocalHostBackend({
    puppet: { command: process.execPath, args: ['-e', 'console.error("no puppet here"); process.exit(3)'] },
    log: silentLogger,
  });
  const host = broken.start(spec(f), r.cb);
  t.teardown(() => host.stop());
  t.is(await r.ended, 'start error: the puppet exited before it was ready (code 3); last output: no puppet here');
});

test('a backed-up console pauses the boot script instead of buffering its output', async (t) => {
  const f = await imageWithBootScript('#!/bin/sh\nhead -c 4000000 /dev/zero\necho done >&2\n');
  t.teardown(f.cleanup);
  let received = 0;
  let release!: () => void;
  const backedUp = new Promise<void>((r) => (release = r));
  let exited = false;
  const cb: HostCallbacks = {
    onStage: () => {},
    onReady: () => {},
    onPuppetEvent: () => {},
    onConsole: (chunk) => {
      received += chunk.length;
      return backedUp;
    },
    onStartError: (message) => t.fail(message),
    onRebooting: () => {},
    onExit: () => (exited = true),
  };
  const host = backend.start(spec(f), cb);
  t.teardown(() => host.stop());
  while (received === 0) await new Promise((r) => setTimeout(r, 10));
  await new Promise((r) => setTimeout(r, 300));
  t.false(exited);
  t.true(received < 1_000_000, `${received} bytes read while paused`);
  release();
  while (!exited) await new Promise((r) => setTimeout(r, 10));
  t.is(received, 4_000_000 + 'done\n'.length);
});
