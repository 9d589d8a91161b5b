// Shared set-up for the puppet tests: a control-socket server, a daemon child process in temp
// dirs, and a way to run client commands against it.

import type { ExecutionContext } from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ControlSocketServer, type JobContext } from '../../supervisor/control-socket/server.js';
import { type PuppetEvent } from '../../protocol/control-socket/messages.js';

export const DIST = fileURLToPath(new URL('../../', import.meta.url));
export const CLI_JS = path.join(DIST, 'puppet', 'cli.js');

export const JOB_ID = '3f2c1b0a-9e8d-4c7b-a6f5-e4d3c2b1a098';
export const HOST_ID = 'c0ffee00-1234-4abc-8def-0123456789ab';

export function baseContext(): JobContext {
  return {
    jobId: JOB_ID,
    hostId: HOST_ID,
    sshKeys: ['ssh-ed25519 AAAAkey1 alice@laptop'],
    networkConfig: null,
    parameters: {
      board: { value: 'nrf52840dk', secret: false },
      token: { value: 'TOPSECRET-hunter2', secret: true },
    },
  };
}

export function tempDir(t: ExecutionContext, prefix = 'tml-puppet-test-'): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  t.teardown(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });
  return dir;
}

export async function waitFor<T>(what: string, f: () => T | Promise<T>, timeoutMs = 30_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}, input?: string): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.once('error', reject);
    child.stdin.end(input ?? '');
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

export interface Daemon {
  dir: string;
  paramsDir: string;
  jobInfoDir: string;
  socket: string;
  daemon: ChildProcess;
  daemonLog: () => string;
  /** runs `tml-puppet ARGS` as a client of this daemon */
  client: (args: string[], env?: NodeJS.ProcessEnv, input?: string) => Promise<RunResult>;
  /** resolves with the exit code once the daemon exited and all its output was read */
  closed: Promise<number | null>;
}

export interface DaemonOptions {
  /** the control socket port on 127.0.0.1 */
  port: number;
  daemonArgs?: string[];
  env?: NodeJS.ProcessEnv;
  /** the CLI to run: [node, script]; defaults to the tsc-built one */
  cli?: string[];
  /** where parameters go; defaults to a directory in the daemon's temp dir */
  paramsDir?: string;
}

/** Starts `tml-puppet daemon` in a temp dir of its own, against the control socket on `port`. */
export function spawnDaemon(t: ExecutionContext, opts: DaemonOptions): Daemon {
  const dir = tempDir(t);
  const paramsDir = opts.paramsDir ?? path.join(dir, 'run', 'parameters');
  const jobInfoDir = path.join(dir, 'run');
  const socket = path.join(dir, 'puppet.sock');
  const cli = opts.cli ?? [process.execPath, CLI_JS];
  const args = [
    ...cli.slice(1),
    'daemon',
    '-t',
    'tcp',
    '--tcp-control-socket-addr',
    `127.0.0.1:${opts.port}`,
    '--parameters-dir',
    paramsDir,
    '--job-info-dir',
    jobInfoDir,
    '--socket',
    socket,
    '--dbus-bus',
    'none',
    '--shutdown-command',
    `touch ${path.join(dir, 'shutdown-ran')}`,
    '--reboot-command',
    `touch ${path.join(dir, 'reboot-ran')}`,
    ...(opts.daemonArgs ?? []),
  ];
  const daemon = spawn(cli[0]!, args, { env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  daemon.stdout!.setEncoding('utf8').on('data', (d: string) => (log += d));
  daemon.stderr!.setEncoding('utf8').on('data', (d: string) => (log += d));
  // 'close', not 'exit': only then has all of its output been read
  const closed = new Promise<number | null>((resolve) => daemon.once('close', (code) => resolve(code)));
  t.teardown(() => {
    if (!t.passed) t.log(`daemon log:\n${log}`);
    if (daemon.exitCode === null && daemon.signalCode === null) daemon.kill('SIGKILL');
  });
  const env = { TML_PUPPET_SOCKET: socket, TML_PARAMETERS_DIR: paramsDir };
  return {
    dir,
    paramsDir,
    jobInfoDir,
    socket,
    daemon,
    daemonLog: () => log,
    client: (a, e = {}, input) => run(cli[0]!, [...cli.slice(1), ...a], { ...env, ...e }, input),
    closed,
  };
}

export interface Job extends Daemon {
  server: ControlSocketServer;
  events: Array<[PuppetEvent, number]>;
  eventsOf: <K extends PuppetEvent['type']>(type: K) => Array<Extract<PuppetEvent, { type: K }>>;
  /** stops the supervisor's server: the daemon loses its connection */
  stopServer: () => Promise<void>;
  /** starts a new server on the same port (the supervisor came back, possibly with a new context) */
  startServer: (context?: JobContext) => Promise<void>;
}

export interface JobOptions {
  context?: JobContext;
  daemonArgs?: string[];
  env?: NodeJS.ProcessEnv;
  /** the CLI to run: [node, script]; defaults to the tsc-built one */
  cli?: string[];
  paramsDir?: string;
  waitReady?: boolean;
}

/** A daemon against this project's own control-socket server. */
export async function startJob(t: ExecutionContext, opts: JobOptions = {}): Promise<Job> {
  const events: Array<[PuppetEvent, number]> = [];
  const context = opts.context ?? baseContext();

  const attach = (s: ControlSocketServer) => {
    s.on('puppet-event', (e: PuppetEvent, id: number) => events.push([e, id]));
    return s;
  };
  let server = attach(await ControlSocketServer.listen({ context }));
  t.teardown(() => server.close());
  const ready = once(server, 'ready');
  const d = spawnDaemon(t, { ...opts, port: server.port });
  if (opts.waitReady !== false) {
    await Promise.race([
      ready,
      d.closed.then((code) => {
        throw new Error(`daemon exited with ${code} before ready:\n${d.daemonLog()}`);
      }),
    ]);
  }
  return {
    ...d,
    get server() {
      return server;
    },
    events,
    eventsOf: <K extends PuppetEvent['type']>(type: K) =>
      events.map(([e]) => e).filter((e): e is Extract<PuppetEvent, { type: K }> => e.type === type),
    stopServer: () => server.close(),
    startServer: async (ctx?: JobContext) => {
      server = attach(await ControlSocketServer.listen({ port: server.port, context: ctx ?? context }));
    },
  };
}
