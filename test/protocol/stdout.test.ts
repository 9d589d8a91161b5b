import test from 'ava';
import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { program, testWith } from '../helpers/tools.js';

const STDOUT = new URL('../../protocol/stdout.js', import.meta.url).href;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * `body` as an ES module that has imported protocol/stdout.ts as `s`, with this stdout. `touched()`
 * names the streams of process.stdout and process.stderr that it has read so far; `report(value)`
 * writes value as JSON to stderr without touching process.stderr.
 */
function inNode(body: string, stdout: 'pipe' | 'ignore' | number = 'pipe', closeEarly = false): Promise<Run> {
  const prelude = `import * as s from '${STDOUT}';
import { writeSync } from 'node:fs';
const read = [];
for (const name of ['stdout', 'stderr']) {
  const own = Object.getOwnPropertyDescriptor(process, name);
  Object.defineProperty(process, name, { configurable: true, get() { read.push(name); return own.get.call(process); } });
}
const touched = () => [...read];
const report = (value) => writeSync(2, JSON.stringify(value));`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', `${prelude}\n${body}`], {
    stdio: ['ignore', stdout, 'pipe'],
  });
  let out = '';
  let err = '';
  if (closeEarly) child.stdout!.destroy();
  else child.stdout?.setEncoding('utf8').on('data', (c: string) => (out += c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (err += c));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout: out, stderr: err }));
  });
}

/** A program's stdout written to a file, and what it wrote on stderr. */
async function toFile(body: string): Promise<{ file: string; stderr: string }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tml-stdout-'));
  const name = path.join(dir, 'out');
  const fd = openSync(name, 'w');
  try {
    const { stderr } = await inNode(body, fd);
    return { file: readFileSync(name, 'utf8'), stderr };
  } finally {
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
}

test('a pipe to another process is no terminal, is a pipe and has no width', async (t) => {
  const r = await inNode(
    'report([s.isNoTerminal(1), s.isNoTerminal(2), s.stdoutIsPipe(), s.stdoutColumns() ?? null, touched()]);',
  );
  t.deepEqual(JSON.parse(r.stderr), [true, true, true, null, []]);
});

test('a file and /dev/null are no terminals and no pipes', async (t) => {
  const body = 'report([s.isNoTerminal(1), s.stdoutIsPipe(), s.stdoutColumns() ?? null, touched()]);';
  t.deepEqual(JSON.parse((await toFile(body)).stderr), [true, false, null, []]);
  t.deepEqual(JSON.parse((await inNode(body, 'ignore')).stderr), [true, false, null, []]);
});

test('a closed stdout is no terminal, and a line printed there is dropped without a word', async (t) => {
  const r = await inNode(
    `import { closeSync } from 'node:fs'; closeSync(1);
report([s.isNoTerminal(1), s.stdoutIsPipe()]); s.printLine('lost');`,
  );
  t.deepEqual(r, { code: 0, stdout: '', stderr: '[true,false]' });
});

test('printLine writes what console.log writes, to a file and to a pipe, without creating process.stdout', async (t) => {
  const text = 'Usage: x [options]\n\n  --flag  \u00e9t\u00e9, \u2014 and 100%s';
  const printed = `s.printLine(${JSON.stringify(text)}); report(touched());`;
  const logged = `console.log(${JSON.stringify(text)});`;
  t.is((await toFile(printed)).file, (await toFile(logged)).file);
  const [viaPrint, viaLog] = await Promise.all([inNode(printed), inNode(logged)]);
  t.is(viaPrint.stdout, viaLog.stdout);
  t.is(viaPrint.stdout, `${text}\n`);
  t.is(viaPrint.stderr, '[]');
});

test('printLine gives a pipe all of a text larger than it holds at once', async (t) => {
  const r = await inNode(`s.printLine('x'.repeat(4 << 20));`);
  t.is(r.code, 0);
  t.is(r.stdout.length, (4 << 20) + 1);
});

test('printLine passes over a reader that has gone, as console.log does', async (t) => {
  const body = (print: string) => `${print}('x'.repeat(1 << 20)); report('done');`;
  const [viaPrint, viaLog] = await Promise.all([
    inNode(body('s.printLine'), 'pipe', true),
    inNode(body('console.log'), 'pipe', true),
  ]);
  t.deepEqual(viaPrint, { code: 0, stdout: '', stderr: '"done"' });
  t.deepEqual(viaLog, viaPrint);
});

const withScript = testWith(program('script', 'bsdutils'));

withScript('on a terminal (script(1), 73 columns) stdout is a terminal of that width and no pipe', async (t) => {
  const body = `import * as s from '${STDOUT}';
process.stderr.write(JSON.stringify([s.isNoTerminal(1), s.isNoTerminal(2), s.stdoutIsPipe(), s.stdoutColumns()]));`;
  const child = spawn('script', ['-qec', 'stty cols 73 && "$NODE" --input-type=module -e "$BODY"', '/dev/null'], {
    env: { ...process.env, NODE: process.execPath, BODY: body },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  const code = await new Promise((resolve) => child.on('close', resolve));
  t.is(code, 0, out);
  t.deepEqual(JSON.parse(out.trim()), [false, false, false, 73]);
});
