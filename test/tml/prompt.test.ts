import test from 'ava';
import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import { ExitWith, UsageError } from '../../protocol/cli.js';
import { readFirstLine, readSecret } from '../../tml/prompt.js';

/** A terminal's input: records raw mode, delivers what the test types. */
class Terminal extends EventEmitter {
  raw: boolean[] = [];
  setRawMode(mode: boolean) {
    this.raw.push(mode);
  }
  resume() {}
  pause() {}
  type(text: string) {
    this.emit('data', Buffer.from(text));
  }
}

function output() {
  let text = '';
  return { write: (s: string) => (text += s), text: () => text };
}

test('a secret is read in raw mode, with Backspace and Ctrl-U, and never written out', async (t) => {
  const term = new Terminal();
  const out = output();
  const read = readSecret('Password: ', term, out);
  term.type('wrong');
  term.type('\u0015');
  term.type('hunter\u007f22');
  term.type('\r');
  t.is(await read, 'hunte22');
  t.is(out.text(), 'Password: \n');
  t.deepEqual(term.raw, [true, false]);
  t.is(term.listenerCount('data'), 0);
});

test('Ctrl-C while typing a secret exits 130; Ctrl-D on an empty line is no password', async (t) => {
  const term = new Terminal();
  const read = readSecret('Password: ', term, output());
  term.type('ab\u0003');
  const err = await t.throwsAsync(read, { instanceOf: ExitWith });
  t.is(err.code, 130);
  const eof = readSecret('Password: ', term, output());
  term.type('\u0004');
  await t.throwsAsync(eof, { instanceOf: UsageError, message: 'no password given (end of input)' });
});

test('--password-stdin takes the first line without its line break', async (t) => {
  const stdin = new PassThrough();
  stdin.end('pw with spaces\r\nsecond line\n');
  t.is(await readFirstLine(stdin, '--password-stdin'), 'pw with spaces');
  const empty = new PassThrough();
  empty.end('');
  await t.throwsAsync(readFirstLine(empty, '--password-stdin'), { message: '--password-stdin: stdin is empty' });
});
