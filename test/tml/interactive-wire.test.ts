// Our WebSocket and REST extensions for interactive jobs, as pure units: the parsers of what a peer
// sends (with fast-check properties), the switchboard's record of SSH endpoints and console links,
// the supervisor's bounded console input and endpoint reports, and tml's input splitting.

import test from 'ava';
import { createLogger, silentLogger } from '../../protocol/log.js';
import fc from 'fast-check';
import { PassThrough, Writable } from 'node:stream';
import { parseConsoleInputRequest } from '../../protocol/console-input-api.js';
import {
  MAX_CONSOLE_INPUT_BYTES,
  parseExtToSupervisor,
  parseExtToSwitchboard,
  parseExtensionsHeader,
  parseToSwitchboard,
  type ExtToSupervisor,
  type ExtToSwitchboard,
} from '../../protocol/switchboard-ws.js';
import { ValidationError } from '../../protocol/validation.js';
import { ConsoleInput, crToLf } from '../../supervisor/console-input.js';
import { parseQemuConfig } from '../../supervisor/hosts/qemu/config.js';
import { SshAccessReporter } from '../../supervisor/interactive.js';
import { InteractiveJobs, type ExtensionLink, type JobView } from '../../switchboard/interactive.js';
import { matchTags } from '../../switchboard/named-system.js';
import { DETACH_BYTE, InputSender, splitInput } from '../../tml/console-attach.js';

const JOB = '6f1c2a4e-0d0b-4c57-9a53-2f1d4c5e6a7b';
const SUP = '0b9e3f44-7c1d-4b7e-8f0a-1c2d3e4f5a6b';

const valueOrValidationError = (parse: () => unknown) => {
  try {
    parse();
    return true;
  } catch (err) {
    return err instanceof ValidationError;
  }
};

// -- the wire --

test('the tml-extensions header names known extensions; unknown names and blanks are ignored', (t) => {
  t.deepEqual([...parseExtensionsHeader('ssh_endpoints, console_input')], ['ssh_endpoints', 'console_input']);
  t.deepEqual([...parseExtensionsHeader(['console_input', 'teleport,'])], ['console_input']);
  t.deepEqual([...parseExtensionsHeader(undefined)], []);
});

test('an ssh_endpoints message parses to the access it reports', (t) => {
  const text = `{"type":"ssh_endpoints","message":{"job_id":"${JOB}","ssh_endpoints":[{"host":"127.0.0.1","port":40022}],"ssh_user":"tml","ssh_host_keys":null}}`;
  t.deepEqual(parseExtToSwitchboard(text), {
    type: 'ssh_endpoints',
    message: { job_id: JOB, ssh_endpoints: [{ host: '127.0.0.1', port: 40022 }], ssh_user: 'tml', ssh_host_keys: null },
  } satisfies ExtToSwitchboard);
});

test("upstream's messages are not extension messages, and still parse as upstream's", (t) => {
  const text = `{"type":"supervisor_event","message":{"type":"job_event","job_id":"${JOB}","event":{"type":"state_transition","new_state":{"state":"ready"},"status_message":"ssh_endpoints"}}}`;
  t.is(parseExtToSwitchboard(text), null);
  t.is(parseToSwitchboard(text).type, 'supervisor_event');
  t.is(parseExtToSupervisor(`{"type":"stop_job","message":{"job_id":"${JOB}"}}`), null);
});

test('a bad port, too many endpoints or a job id that is no UUID is refused', (t) => {
  const msg = (m: object) => JSON.stringify({ type: 'ssh_endpoints', message: m });
  const base = { job_id: JOB, ssh_user: null, ssh_host_keys: null };
  t.throws(() => parseExtToSwitchboard(msg({ ...base, ssh_endpoints: [{ host: 'h', port: 0 }] })), {
    instanceOf: ValidationError,
  });
  const many = Array.from({ length: 17 }, () => ({ host: 'h', port: 22 }));
  t.throws(() => parseExtToSwitchboard(msg({ ...base, ssh_endpoints: many })), { message: /at most 16/ });
  t.throws(() => parseExtToSwitchboard(msg({ ...base, job_id: 'x', ssh_endpoints: [] })), { message: /UUID/ });
});

test('console_input carries at most 4096 bytes', (t) => {
  const msg = (n: number) =>
    JSON.stringify({ type: 'console_input', message: { job_id: JOB, console_bytes: Array(n).fill(65) } });
  t.is((parseExtToSupervisor(msg(MAX_CONSOLE_INPUT_BYTES)) as ExtToSupervisor).message.console_bytes.length, 4096);
  t.throws(() => parseExtToSupervisor(msg(MAX_CONSOLE_INPUT_BYTES + 1)), { message: /at most 4096/ });
  const notByte = JSON.stringify({ type: 'console_input', message: { job_id: JOB, console_bytes: [256] } });
  t.throws(() => parseExtToSupervisor(notByte), { instanceOf: ValidationError });
});

test('a console input request holds the standard base64 of 1 to 4096 bytes', (t) => {
  t.deepEqual(parseConsoleInputRequest({ data_base64: Buffer.from('ls\n').toString('base64') }), Buffer.from('ls\n'));
  for (const body of [
    { data_base64: '' },
    { data_base64: 'not base64!' },
    { data_base64: Buffer.alloc(4097).toString('base64') },
    { data_base64: 'aGk=', extra: 1 },
    'aGk=',
  ]) {
    t.throws(() => parseConsoleInputRequest(body), { instanceOf: ValidationError }, JSON.stringify(body));
  }
});

const jsonish = fc.oneof(
  fc.string(),
  fc.json(),
  fc
    .record({ type: fc.constantFrom('ssh_endpoints', 'console_input'), message: fc.anything() })
    .map((v) => JSON.stringify(v)),
  fc
    .record({
      type: fc.constant('ssh_endpoints'),
      message: fc.record({
        job_id: fc.oneof(fc.constant(JOB), fc.string()),
        ssh_endpoints: fc.array(fc.record({ host: fc.anything(), port: fc.anything() })),
        ssh_user: fc.anything(),
        ssh_host_keys: fc.anything(),
      }),
    })
    .map((v) => JSON.stringify(v)),
);

test('property: any text from a peer gives a message, null or a ValidationError', (t) => {
  fc.assert(
    fc.property(jsonish, (text) => valueOrValidationError(() => parseExtToSwitchboard(text))),
    { numRuns: 500 },
  );
  fc.assert(
    fc.property(jsonish, (text) => valueOrValidationError(() => parseExtToSupervisor(text))),
    { numRuns: 500 },
  );
  fc.assert(
    fc.property(fc.anything(), (body) => valueOrValidationError(() => parseConsoleInputRequest(body))),
    { numRuns: 500 },
  );
  t.pass();
});

// -- the switchboard's side --

function switchboardSide(job: JobView) {
  const jobs = new Map([[job.id, job]]);
  const lines: string[] = [];
  const sent: ExtToSupervisor[] = [];
  const interactive = new InteractiveJobs(
    { get: async (id) => jobs.get(id) },
    createLogger({ level: 'debug', write: (l) => lines.push(l) }),
  );
  const link = (extensions: Array<'ssh_endpoints' | 'console_input'>): ExtensionLink => ({
    extensions: new Set(extensions),
    send: (m) => sent.push(m),
  });
  return { interactive, lines, sent, link, job };
}

const running = (): JobView => ({ id: JOB, owner_id: 'u1', state: 'ready', supervisor_id: SUP });
const endpointsMsg = (endpoints: Array<{ host: string; port: number }>) =>
  JSON.stringify({
    type: 'ssh_endpoints',
    message: { job_id: JOB, ssh_endpoints: endpoints, ssh_user: 'tml', ssh_host_keys: null },
  });

test("a running job's status shows the SSH endpoints its supervisor reported, until it ends", async (t) => {
  const { interactive, job } = switchboardSide(running());
  t.deepEqual(interactive.ssh(job), {});
  t.is(await interactive.message(SUP, 'vm-1', endpointsMsg([{ host: '127.0.0.1', port: 40022 }])), undefined);
  t.deepEqual(interactive.ssh(job), {
    ssh_endpoints: [{ host: '127.0.0.1', port: 40022 }],
    ssh_user: 'tml',
    ssh_host_keys: null,
  });
  job.state = 'terminated';
  t.deepEqual(interactive.ssh(job), {});
});

test('endpoints from a supervisor the job does not run on are ignored', async (t) => {
  const { interactive, job } = switchboardSide(running());
  t.is(
    await interactive.message('11111111-2222-4333-8444-555555555555', 'other', endpointsMsg([{ host: 'h', port: 1 }])),
    undefined,
  );
  t.deepEqual(interactive.ssh(job), {});
});

test("an upstream message is not the extensions' to handle", (t) => {
  const { interactive } = switchboardSide(running());
  t.false(interactive.message(SUP, 'vm-1', `{"type":"status_response","message":{}}`));
});

test('console input goes to the supervisor that named console_input, only while the job has a host', (t) => {
  const { interactive, sent, link, job } = switchboardSide(running());
  t.like(interactive.consoleInput(job, Buffer.from('x')), { ok: false, reason: 'supervisor_away' });
  const upstreamLike = link([]);
  interactive.connected(SUP, upstreamLike);
  t.like(interactive.consoleInput(job, Buffer.from('x')), { ok: false, reason: 'unsupported' });
  interactive.disconnected(SUP, upstreamLike);
  interactive.connected(SUP, link(['console_input']));
  t.deepEqual(interactive.consoleInput(job, Buffer.from('hi')), { ok: true });
  t.deepEqual(sent, [{ type: 'console_input', message: { job_id: JOB, console_bytes: [104, 105] } }]);
  job.state = 'terminating';
  t.like(interactive.consoleInput(job, Buffer.from('x')), { ok: false, reason: 'not_running' });
});

// -- the supervisor's side --

test('console input is written to the host in order and dropped beyond the pending limit', (t) => {
  const input = new ConsoleInput(silentLogger, 8);
  t.is(input.write(Buffer.from('a')), 'no_input');
  const received: Buffer[] = [];
  // A reader that never takes its data: writes stay pending.
  const stalled = new Writable({ write: (chunk: Buffer) => received.push(chunk), highWaterMark: 1 });
  input.attach(stalled);
  t.is(input.write(Buffer.from('12345')), 'written');
  t.is(input.write(Buffer.from('6789')), 'dropped');
  const pipe = new PassThrough();
  input.attach(pipe);
  t.is(input.write(Buffer.from('ok')), 'written');
  t.is(pipe.read()?.toString(), 'ok');
  input.close();
  t.is(input.write(Buffer.from('late')), 'no_input');
});

test('the supervisor reports endpoints when ready, again on reconnection, and clears them at the end', (t) => {
  const sent: ExtToSwitchboard[] = [];
  const reporter = new SshAccessReporter((m) => (sent.push(m), true));
  reporter.update(JOB, { sshEndpoints: [] });
  reporter.resend();
  t.deepEqual(sent, [], 'a host without endpoints reports none');
  reporter.update(JOB, { sshEndpoints: [{ host: '127.0.0.1', port: 40022 }], sshUser: 'tml' });
  reporter.resend();
  t.is(sent.length, 2);
  t.deepEqual(sent[1], sent[0]);
  reporter.update(JOB, null);
  t.deepEqual(sent[2]?.message.ssh_endpoints, []);
  reporter.resend();
  t.is(sent.length, 3);
});

// -- tml's side --

test('typed input is split into chunks the switchboard takes, up to Ctrl-]', (t) => {
  const data = Buffer.concat([Buffer.alloc(5000, 0x61), Buffer.from([DETACH_BYTE]), Buffer.from('after')]);
  const { chunks, detach } = splitInput(data);
  t.true(detach);
  t.deepEqual(
    chunks.map((c) => c.length),
    [4096, 904],
  );
  t.deepEqual(splitInput(Buffer.from('ls\n')), { chunks: [Buffer.from('ls\n')], detach: false });
});

test('property: split input keeps every byte before Ctrl-], in order, in chunks of at most 4096', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 20_000 }), (bytes) => {
      const data = Buffer.from(bytes);
      const { chunks, detach } = splitInput(data);
      const at = data.indexOf(DETACH_BYTE);
      const expected = at < 0 ? data : data.subarray(0, at);
      return (
        detach === at >= 0 &&
        chunks.every((c) => c.length > 0 && c.length <= 4096) &&
        Buffer.concat(chunks).equals(expected)
      );
    }),
  );
  t.pass();
});

test('input is sent one chunk at a time, in order; a refusal is noted once', async (t) => {
  const sent: string[] = [];
  const notes: string[] = [];
  let refuse = true;
  const sender = new InputSender(
    async (d) => {
      await new Promise((r) => setTimeout(r, 5));
      if (refuse) throw new Error('job J is terminated: its host takes no input');
      sent.push(d.toString());
    },
    (l) => notes.push(l),
  );
  sender.push([Buffer.from('a'), Buffer.from('b')]);
  await sender.flushed();
  t.deepEqual(notes, ['tml: console input not delivered: job J is terminated: its host takes no input']);
  refuse = false;
  sender.push([Buffer.from('c')]);
  sender.push([Buffer.from('d'), Buffer.from('e')]);
  sender.push([]);
  await sender.flushed();
  t.deepEqual(sent, ['c', 'd', 'e']);
});

test('a supervisor matches the named-system tags of its name and its id beside its own tags', (t) => {
  const tags = matchTags({ id: SUP, name: 'rpi-1' }, ['board:rpi']);
  t.deepEqual([...tags].sort(), ['board:rpi', `tml.supervisor:${SUP}`, 'tml.supervisor:rpi-1']);
});

test("the qemu host reports the SSH user of its ssh_user key, upstream's tml by default", (t) => {
  t.is(parseQemuConfig({}).sshUser, 'tml');
  t.is(parseQemuConfig({ ssh_user: 'pi' }).sshUser, 'pi');
  t.throws(() => parseQemuConfig({ ssh_user: '' }), { message: 'qemu.ssh_user must not be empty' });
});

test("a pipe console turns a terminal's Enter into a newline, as a tty's ICRNL does", (t) => {
  t.is(crToLf(Buffer.from('ls\r')).toString(), 'ls\n');
  t.is(crToLf(Buffer.from('a\r\nb\rc\n')).toString(), 'a\nb\nc\n');
  const plain = Buffer.from('no carriage return\n');
  t.is(crToLf(plain), plain);
});
