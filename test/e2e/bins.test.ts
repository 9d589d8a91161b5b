// The installed commands (package.json `bin`: the launchers in bin/, each running its bundle in
// dist/bin/ with its code cache) start from a fresh build, and say exactly what the tsc-built CLIs
// they are bundled from say: for --help (on a pipe and on terminals) and for one command that reads
// data.
import test from 'ava';
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Service } from '../../scripts/child-processes.js';
import { program, testWith } from '../helpers/tools.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const BINS = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string> }).bin;
/** Where each command's tsc build is. */
const TSC: Record<string, string> = {
  'tml-imagetool': 'dist/imagetool/cli.js',
  'tml-puppet': 'dist/puppet/cli.js',
  'tml-supervisor': 'dist/supervisor/cli.js',
  'tml-switchboard': 'dist/switchboard/cli.js',
  tml: 'dist/tml/cli.js',
};

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TML_')));

function run(file: string, args: string[], extraEnv: NodeJS.ProcessEnv = {}, viaNode = true): Promise<Result> {
  const child = viaNode
    ? spawn(process.execPath, [file, ...args], { env: { ...env, ...extraEnv } })
    : spawn(file, args, { env: { ...env, ...extraEnv } });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/**
 * A script for node's --require that writes, at exit and to stderr, which of process.stdout and
 * process.stderr the program has read (protocol/stdout.ts: creating either loads node:stream) and
 * which of the costly builtins of WATCHED it has loaded.
 */
/** Builtins a --help or --version needs none of: streams, and node:module (the ES module loader). */
const WATCHED = ['stream', 'net', 'module'];
const WATCHING = `const { writeSync } = require('node:fs');
const read = [];
for (const name of ['stdout', 'stderr']) {
  const own = Object.getOwnPropertyDescriptor(process, name);
  Object.defineProperty(process, name, { configurable: true, get() { read.push(name); return own.get.call(process); } });
}
const before = new Set(process.moduleLoadList);
const watched = ${JSON.stringify(WATCHED)}.map((m) => 'NativeModule ' + m);
process.on('exit', () => {
  const loaded = watched.filter((m) => process.moduleLoadList.includes(m) && !before.has(m));
  writeSync(2, JSON.stringify({ read, loaded }));
});
`;

const withScript = testWith(program('script', 'bsdutils'));

/** `cli --help` run on a terminal (script(1)) `columns` wide: its exit code and what the terminal showed. */
function onTerminal(cli: string, columns: number): Promise<{ code: number | null; stdout: string }> {
  const child = spawn('script', ['-qec', `stty cols ${columns} && "$NODE" "$CLI" --help`, '/dev/null'], {
    env: { ...env, NODE: process.execPath, CLI: cli },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let stdout = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout }));
  });
}

const bin = (name: string) => path.join(ROOT, BINS[name]!);
const tsc = (name: string) => path.join(ROOT, TSC[name]!);

let work = '';
let watching = '';
const services: Service[] = [];

/** `tml-switchboard serve` from `cli` on a free loopback port, stopped after the tests; its URL. */
async function serveFrom(cli: string, db: string): Promise<string> {
  const serve = new Service('tml-switchboard', cli, ['serve', '--listen', '127.0.0.1:0', '--db', db], env);
  services.push(serve);
  return (await serve.waitForLine(/listening on (http:\/\/\S+)/, 15_000))[1]!;
}

/** Per command: the arguments of a command that reads data, and its environment. */
const dataCommands: Record<string, { args: string[]; env?: NodeJS.ProcessEnv }> = {};

test.before(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'tml-bins-'));
  watching = path.join(work, 'watching.cjs');
  writeFileSync(watching, WATCHING);
  const store = path.join(work, 'store');
  mkdirSync(store);
  writeFileSync(path.join(work, 'boot.sh'), '#!/bin/sh\necho hello\n');
  const created = await run(tsc('tml-imagetool'), [
    'create',
    '--store',
    store,
    '--label',
    'bins test',
    '--blob',
    `boot=${path.join(work, 'boot.sh')}`,
  ]);
  if (created.code !== 0) throw new Error(`tml-imagetool create: ${created.stderr}`);
  dataCommands['tml-imagetool'] = { args: ['list', '--store', store] };

  const params = path.join(work, 'parameters');
  mkdirSync(params);
  writeFileSync(path.join(params, 'board'), 'nrf52840dk');
  dataCommands['tml-puppet'] = { args: ['parameter', 'list'], env: { TML_PARAMETERS_DIR: params } };

  dataCommands['tml-supervisor'] = { args: ['--version'] };

  const db = path.join(work, 'switchboard.db');
  const admin = async (args: string[]) => {
    const r = await run(tsc('tml-switchboard'), [...args, '--db', db]);
    if (r.code !== 0) throw new Error(`tml-switchboard ${args.join(' ')}: ${r.stderr}`);
    return r.stdout.trim();
  };
  await admin(['user', 'add', 'alice', '--admin']);
  const token = await admin(['token', 'create', '--user', 'alice']);
  await admin(['supervisor', 'add', 'rack-1', '--tags', 'board:nrf52840dk']);
  dataCommands['tml-switchboard'] = { args: ['supervisor', 'list', '--db', db] };

  const url = await serveFrom(tsc('tml-switchboard'), db);
  dataCommands['tml'] = {
    args: ['supervisor', 'list', '--json'],
    env: { TML_API_TOKEN: token, TML_SWITCHBOARD_URL: url },
  };
});

test.after.always(async () => {
  for (const s of services) await s.stop();
  rmSync(work, { recursive: true, force: true });
});

test('package.json names the five commands, each with its tsc build', (t) => {
  t.deepEqual(Object.keys(BINS).sort(), Object.keys(TSC).sort());
});

for (const name of Object.keys(TSC)) {
  test(`${name}: the installed file is executable and answers --help with exit 0`, async (t) => {
    t.truthy(statSync(bin(name)).mode & 0o111);
    const r = await run(bin(name), ['--help'], {}, false);
    t.is(r.code, 0, r.stderr);
    t.true(r.stdout.startsWith(name), r.stdout.slice(0, 200));
  });

  test(`${name}: the bundle and the tsc build print the same --help`, async (t) => {
    const [bundled, built] = await Promise.all([run(bin(name), ['--help']), run(tsc(name), ['--help'])]);
    t.deepEqual(bundled, built);
  });

  withScript(
    `${name}: on terminals 60 and 200 columns wide, the bundle and the tsc build print the same --help`,
    async (t) => {
      for (const columns of [60, 200]) {
        const [bundled, built] = await Promise.all([onTerminal(bin(name), columns), onTerminal(tsc(name), columns)]);
        t.is(built.code, 0, built.stdout);
        t.deepEqual(bundled, built);
      }
    },
  );

  // (on a pipe, tml reads process.stdout for its EPIPE listener: tml/cli.ts)
  test(`${name}: the bundle prints --help and --version to a file without creating process.stdout or process.stderr (a pipe), or loading node:module`, async (t) => {
    for (const args of [['--help'], ['--version']]) {
      const out = path.join(work, `${name}-${args[0]}.out`);
      const fd = openSync(out, 'w');
      const child = spawn(process.execPath, [bin(name), ...args], {
        env: { ...env, NODE_OPTIONS: `--require ${JSON.stringify(watching)}` },
        stdio: ['ignore', fd, 'pipe'],
      });
      closeSync(fd);
      let stderr = '';
      child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
      const code = await new Promise((resolve) => child.on('close', resolve));
      t.is(code, 0, stderr);
      t.not(readFileSync(out, 'utf8'), '');
      t.deepEqual(JSON.parse(stderr), { read: [], loaded: [] }, args.join(' '));
    }
  });

  test(`${name}: the bundle and the tsc build give the same answer to a command that reads data`, async (t) => {
    const { args, env: extra } = dataCommands[name]!;
    const [bundled, built] = await Promise.all([run(bin(name), args, extra), run(tsc(name), args, extra)]);
    t.is(built.code, 0, built.stderr);
    t.not(built.stdout, '');
    t.deepEqual(bundled, built);
  });

  test(`${name}: the build leaves code caches for help and for data commands that this Node accepts, so runs do not rewrite them`, async (t) => {
    const caches = [`${name}.js.help.v8cache`, `${name}.js.v8cache`].map((f) => path.join(ROOT, 'dist', 'bin', f));
    const written = () => caches.map((c) => statSync(c).mtimeMs);
    const before = written();
    t.is((await run(bin(name), ['--help'])).code, 0);
    const { args, env: extra } = dataCommands[name]!;
    t.is((await run(bin(name), args, extra)).code, 0);
    t.deepEqual(written(), before);
  });
}

// tml-switchboard's launcher runs `serve` from a bundle of everything, the other commands from one
// without the HTTP stack (scripts/bundle-bins.ts).

test('tml-switchboard: serve --help is the same from the installed command as from the tsc build', async (t) => {
  const args = ['serve', '--help'];
  const [bundled, built] = await Promise.all([run(bin('tml-switchboard'), args), run(tsc('tml-switchboard'), args)]);
  t.is(built.code, 0, built.stderr);
  t.deepEqual(bundled, built);
});

test('tml-switchboard: the installed command serves the API', async (t) => {
  const url = await serveFrom(bin('tml-switchboard'), path.join(work, 'served-by-the-bundle.db'));
  const res = await fetch(`${url}/readyz`);
  t.is(res.status, 200);
  t.deepEqual(await res.json(), { status: 'ok' });
});

test('tml-switchboard: the admin commands start from a bundle without the HTTP stack', (t) => {
  const bundle = (name: string) => readFileSync(path.join(ROOT, 'dist', 'bin', `${name}.js`), 'latin1');
  // fastify's error codes: in the bundle that serves, not in the one the admin commands run
  t.true(bundle('tml-switchboard-serve').includes('FST_ERR_'));
  t.false(bundle('tml-switchboard').includes('FST_ERR_'));
});

test('tml-switchboard: the bundle that serves leaves a code cache that this Node accepts too', async (t) => {
  const cache = path.join(ROOT, 'dist', 'bin', 'tml-switchboard-serve.js.help.v8cache');
  const before = statSync(cache).mtimeMs;
  t.is((await run(bin('tml-switchboard'), ['serve', '--help'])).code, 0);
  t.is(statSync(cache).mtimeMs, before);
});
