#!/usr/bin/env node
// tml: the Treadmill user's client. Token from TML_API_TOKEN, switchboard URL from
// TML_SWITCHBOARD_URL or --switchboard. Exit codes: outcome.ts (documented in docs/switchboard.md).

import { createWriteStream, readFileSync, type WriteStream } from 'node:fs';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { ValidationError, isImageId, isUuid } from '../protocol/validation.js';
import { parseParameters, type JobRequest, type Parameters as JobParameters } from '../protocol/job.js';
import { type JobEventRecord, type JobStatusResponse } from '../protocol/switchboard-api.js';
import { ApiError, NetworkError, SwitchboardClient } from './client.js';
import { parseDuration } from '../protocol/duration.js';
import { EXIT_CODES, bookName, exitCodeFor } from './outcome.js';

class UsageError extends Error {}

/** Ends the process with `code` after an explanatory line (or none). */
class Exit extends Error {
  constructor(
    readonly code: number,
    message = '',
  ) {
    super(message);
  }
}

interface Global {
  switchboard?: string;
}

function client(argv: Global): SwitchboardClient {
  const url = argv.switchboard ?? process.env.TML_SWITCHBOARD_URL;
  if (!url) throw new UsageError('no switchboard: pass --switchboard URL or set TML_SWITCHBOARD_URL');
  try {
    new URL(url);
  } catch {
    throw new UsageError(`invalid switchboard URL "${url}"`);
  }
  const token = process.env.TML_API_TOKEN;
  if (!token) throw new UsageError('no API token: set TML_API_TOKEN');
  return new SwitchboardClient(url, token);
}

function jobId(id: unknown): string {
  if (!isUuid(id)) throw new UsageError(`job id must be a UUID, got "${String(id)}"`);
  return id;
}

// -- enqueue flags --

interface EnqueueFlags {
  image: string;
  tagConfig?: string;
  parameters?: string;
  sshKey?: string[];
  timeout?: string;
}

function parseParameterFlag(text: string): JobParameters {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new UsageError('--parameters must be a JSON object, e.g. \'{"name": {"value": "x", "secret": false}}\'');
  }
  // Shorthand: {"name": "value"} is a non-secret parameter.
  if (raw && typeof raw === 'object' && !Array.isArray(raw)) {
    for (const [k, v] of Object.entries(raw))
      if (typeof v === 'string') (raw as Record<string, unknown>)[k] = { value: v, secret: false };
  }
  try {
    return parseParameters(raw, '--parameters');
  } catch (err) {
    if (err instanceof ValidationError) throw new UsageError(err.message);
    throw err;
  }
}

function sshKeys(flags: string[] | undefined): string[] {
  const keys: string[] = [];
  for (const k of flags ?? []) {
    if (/^(ssh-|ecdsa-|sk-)/.test(k)) {
      keys.push(k.trim());
      continue;
    }
    // Anything else names a public key file (one key a line).
    let text: string;
    try {
      text = readFileSync(k, 'utf8');
    } catch (err) {
      throw new UsageError(
        `--ssh-key ${k}: not a key and not a readable file (${(err as NodeJS.ErrnoException).code})`,
      );
    }
    keys.push(
      ...text
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l !== '' && !l.startsWith('#')),
    );
  }
  return keys;
}

function jobRequest(f: EnqueueFlags): JobRequest {
  if (!isImageId(f.image)) throw new UsageError(`IMAGE_ID must be 64 lowercase hex digits, got "${f.image}"`);
  let override_timeout: number | null = null;
  if (f.timeout !== undefined) {
    try {
      override_timeout = Math.max(1, Math.ceil(parseDuration(f.timeout) / 1000));
    } catch (err) {
      throw new UsageError(`--timeout: ${(err as Error).message}`);
    }
  }
  return {
    init_spec: { type: 'image', image_id: f.image },
    ssh_keys: sshKeys(f.sshKey),
    restart_policy: { remaining_restart_count: 0 },
    parameters: f.parameters === undefined ? {} : parseParameterFlag(f.parameters),
    tag_config: f.tagConfig ?? '',
    override_timeout,
  };
}

// -- output --

function out(line: string): void {
  process.stdout.write(`${line}\n`);
}

function note(line: string): void {
  process.stderr.write(`${line}\n`);
}

function stateText(s: { state: string; stage: string | null; status_message: string | null }): string {
  return `${s.state}${s.stage ? ` (${s.stage})` : ''}${s.status_message ? `: ${s.status_message}` : ''}`;
}

function printStatus(s: JobStatusResponse): void {
  const rows: Array<[string, string | null]> = [
    ['job', s.job_id],
    ['owner', s.owner],
    ['state', stateText(s)],
    ['exit status', s.exit_status ? `${bookName(s.exit_status)}${s.exit_message ? `: ${s.exit_message}` : ''}` : null],
    ['image', s.init_spec.type === 'image' ? s.init_spec.image_id : `resume job ${s.init_spec.job_id}`],
    ['tags', s.tag_config || null],
    ['supervisor', s.supervisor_id ? `${s.supervisor_name ?? '?'} (${s.supervisor_id})` : null],
    [
      'parameters',
      Object.keys(s.parameters).length
        ? Object.entries(s.parameters)
            .map(([k, p]) => (p.secret ? `${k}=<secret>` : `${k}=${p.value}`))
            .join(' ')
        : null,
    ],
    ['queued', s.queued_at],
    ['scheduled', s.scheduled_at],
    ['terminated', s.terminated_at],
    ['console', `${s.log_bytes} bytes`],
  ];
  for (const [k, v] of rows) if (v !== null) out(`${k.padEnd(13)}${v}`);
}

function printEvent(e: JobEventRecord): void {
  const what =
    e.kind === 'exit_status'
      ? `exit status ${bookName(e.exit_status ?? '')}${e.status_message ? `: ${e.status_message}` : ''}`
      : `${e.kind === 'sub_state' ? 'sub-state ' : ''}${stateText(e)}`;
  out(`${e.at}  ${e.by.padEnd(11)} ${what}`);
}

// -- commands --

/** How long `wait` and `run` keep trying while the switchboard is unreachable (e.g. restarting). */
const OUTAGE_TOLERANCE_MS = 60_000;

/**
 * Tracks one outage of the switchboard: `failed` notes it once and says whether to keep trying,
 * `recovered` ends it.
 */
class Outage {
  private since: number | null = null;

  failed(err: unknown): boolean {
    if (!(err instanceof NetworkError)) return false;
    if (this.since === null) {
      this.since = Date.now();
      note(`tml: ${err.message}; retrying for up to ${OUTAGE_TOLERANCE_MS / 1000} s`);
    }
    return Date.now() - this.since < OUTAGE_TOLERANCE_MS;
  }

  recovered(): void {
    if (this.since !== null) note('tml: the switchboard is reachable again');
    this.since = null;
  }
}

async function waitFor(c: SwitchboardClient, id: string, timeoutMs: number | null): Promise<JobStatusResponse | null> {
  const deadline = timeoutMs === null ? Infinity : Date.now() + timeoutMs;
  const outage = new Outage();
  let delay = 100;
  for (;;) {
    try {
      const s = await c.status(id);
      outage.recovered();
      if (s.state === 'terminated') return s;
    } catch (err) {
      if (!outage.failed(err)) throw err;
    }
    if (Date.now() >= deadline) return null;
    await new Promise((r) => setTimeout(r, Math.min(delay, deadline - Date.now())));
    delay = Math.min(delay * 2, 1000);
  }
}

function finish(s: JobStatusResponse): never {
  const status = s.exit_status ?? 'internal_supervisor_error';
  note(`job ${s.job_id}: ${bookName(status)}${s.exit_message ? `: ${s.exit_message}` : ''}`);
  throw new Exit(exitCodeFor(status));
}

/** Notes each state change of the job on stderr (stdout carries only the console) until `signal`. */
async function watchProgress(c: SwitchboardClient, id: string, signal: AbortSignal): Promise<void> {
  let last = '';
  while (!signal.aborted) {
    try {
      const s = await c.status(id);
      const now = `${s.state}${s.stage ? ` (${s.stage})` : ''}${s.supervisor_name && s.state !== 'queued' ? ` on ${s.supervisor_name}` : ''}`;
      if (now !== last && s.state !== 'terminated') note(`job ${id}: ${now}`);
      last = now;
      if (s.state === 'terminated') return;
    } catch {
      // Progress is informational; the log stream reports lost connections.
    }
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, 500);
      signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
    });
  }
}

function compileRegex(text: string | undefined, flag: string): RegExp | null {
  if (text === undefined) return null;
  try {
    return new RegExp(text, 'm');
  } catch (err) {
    throw new UsageError(`--${flag}: invalid regular expression: ${(err as Error).message}`);
  }
}

async function run(
  argv: Global & EnqueueFlags & { completionText?: string; errorText?: string; log?: string },
): Promise<never> {
  const completion = compileRegex(argv.completionText, 'completion-text');
  const error = compileRegex(argv.errorText, 'error-text');
  const request = jobRequest(argv);
  const c = client(argv);
  let logFile: WriteStream | null = null;
  if (argv.log) {
    logFile = createWriteStream(argv.log);
    await new Promise<void>((resolve, reject) => {
      logFile!.once('open', () => resolve());
      logFile!.once('error', (err) => reject(new UsageError(`--log ${argv.log}: ${err.message}`)));
    });
  }
  const { job_id: id } = await c.enqueue(request);
  note(`job ${id} enqueued`);
  const stop = new AbortController();
  let interrupted = false;
  const onSigint = () => {
    interrupted = true;
    stop.abort();
  };
  process.on('SIGINT', onSigint);
  const progress = watchProgress(c, id, stop.signal);
  const decoder = new TextDecoder();
  let window = '';
  let matched: 'completion' | 'error' | null = null;
  let offset = 0;
  const outage = new Outage();
  try {
    while (!stop.signal.aborted) {
      try {
        for await (const chunk of c.followLog(id, offset, stop.signal)) {
          outage.recovered();
          offset += chunk.length;
          process.stdout.write(chunk);
          logFile?.write(chunk);
          // Match against recent text so a pattern split across chunks is still found.
          window = (window + decoder.decode(chunk, { stream: true })).slice(-65536);
          if (error?.test(window)) matched = 'error';
          else if (completion?.test(window)) matched = 'completion';
          if (matched) {
            stop.abort();
            break;
          }
        }
        break;
      } catch (err) {
        // The log stream broke: resume from where it stopped, for as long as the outage is tolerated.
        if (!outage.failed(err)) throw err;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  } finally {
    stop.abort();
    await progress;
    process.off('SIGINT', onSigint);
    if (logFile) await new Promise((r) => logFile!.end(r));
  }
  if (interrupted || matched) {
    try {
      await c.cancel(id);
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 409)) throw err;
    }
    if (interrupted) {
      note(`job ${id}: interrupted, canceled the job`);
      throw new Exit(EXIT_CODES.interrupted);
    }
    note(`job ${id}: ${matched} text found${matched === 'completion' ? '' : ' (error)'}; canceled the job`);
    throw new Exit(matched === 'completion' ? 0 : EXIT_CODES.workload_finished_error);
  }
  const s = await waitFor(c, id, null);
  finish(s!);
}

function enqueueOptions<T>(y: import('yargs').Argv<T>) {
  return y
    .positional('image', { type: 'string', demandOption: true, describe: 'image id (64 hex digits)' })
    .option('tag-config', {
      type: 'string',
      describe: '";"-separated tags a supervisor must have, e.g. "board:nrf52840dk"',
    })
    .option('parameters', {
      type: 'string',
      describe: 'JSON: {"name": {"value": "...", "secret": true}} or {"name": "value"}',
    })
    .option('ssh-key', {
      type: 'string',
      array: true,
      describe: 'authorized SSH public key, or a file of them (repeatable)',
    })
    .option('timeout', { type: 'string', describe: "job timeout, e.g. 30m (default: the switchboard's)" });
}

async function main(): Promise<void> {
  await yargs(hideBin(process.argv))
    .scriptName('tml')
    .usage(
      '$0 <command>\n\nTreadmill client. Token from TML_API_TOKEN; switchboard from TML_SWITCHBOARD_URL or --switchboard.',
    )
    .option('switchboard', { type: 'string', global: true, describe: 'switchboard URL, e.g. http://127.0.0.1:8080' })
    .command('job <command>', 'Enqueue, watch and cancel jobs', (y) =>
      y
        .command(
          'enqueue <image>',
          'Enqueue a job; prints {"job_id": "..."}',
          (yy) => enqueueOptions(yy),
          async (argv) => {
            const request = jobRequest(argv as unknown as EnqueueFlags);
            const { job_id } = await client(argv).enqueue(request);
            out(`{"job_id": "${job_id}"}`);
          },
        )
        .command(
          'run <image>',
          'Enqueue a job, stream its console, exit 0 only on success',
          (yy) =>
            enqueueOptions(yy)
              .option('completion-text', {
                type: 'string',
                describe: 'stop with success when the console matches this regex',
              })
              .option('error-text', {
                type: 'string',
                describe: 'stop with failure when the console matches this regex',
              })
              .option('log', { type: 'string', describe: 'also write the console to this file' }),
          (argv) => run(argv as unknown as Parameters<typeof run>[0]),
        )
        .command(
          'status <id>',
          "Show a job's state and exit status",
          (yy) =>
            yy
              .positional('id', { type: 'string', demandOption: true })
              .option('json', { type: 'boolean', default: false }),
          async (argv) => {
            const s = await client(argv).status(jobId(argv.id));
            if (argv.json) out(JSON.stringify(s, null, 2));
            else printStatus(s);
          },
        )
        .command(
          'list',
          'List your jobs (all jobs for admins), newest first',
          (yy) =>
            yy.option('json', { type: 'boolean', default: false }).option('limit', { type: 'number', default: 200 }),
          async (argv) => {
            if (!Number.isInteger(argv.limit) || argv.limit < 1 || argv.limit > 10000) {
              throw new UsageError(`--limit must be a whole number from 1 to 10000, got ${String(argv.limit)}`);
            }
            const jobs = await client(argv).list(argv.limit);
            if (argv.json) return out(JSON.stringify(jobs, null, 2));
            for (const s of jobs) {
              out(
                `${s.job_id}  ${s.queued_at}  ${s.owner.padEnd(10)} ${(s.exit_status ? `${s.state} ${bookName(s.exit_status)}` : stateText(s)).slice(0, 80)}`,
              );
            }
          },
        )
        .command(
          'cancel <id>',
          'Cancel a job',
          (yy) => yy.positional('id', { type: 'string', demandOption: true }),
          async (argv) => {
            const s = await client(argv).cancel(jobId(argv.id));
            note(`job ${s.job_id}: canceled (${s.state})`);
          },
        )
        .command(
          'logs <id>',
          "Print a job's console output",
          (yy) =>
            yy
              .positional('id', { type: 'string', demandOption: true })
              .option('follow', { alias: 'f', type: 'boolean', default: false }),
          async (argv) => {
            const c = client(argv);
            const id = jobId(argv.id);
            if (argv.follow) {
              for await (const chunk of c.followLog(id)) process.stdout.write(chunk);
              return;
            }
            let offset = 0;
            for (;;) {
              const r = await c.log(id, offset);
              process.stdout.write(r.data);
              if (r.data.length === 0 || r.next === offset) break;
              offset = r.next;
            }
          },
        )
        .command(
          'events <id>',
          'Show every state change, sub-state and exit status of a job',
          (yy) =>
            yy
              .positional('id', { type: 'string', demandOption: true })
              .option('json', { type: 'boolean', default: false }),
          async (argv) => {
            const events = await client(argv).events(jobId(argv.id));
            if (argv.json) out(JSON.stringify(events, null, 2));
            else events.forEach(printEvent);
          },
        )
        .command(
          'wait <id>',
          'Wait until a job terminates; the exit code tells how it ended',
          (yy) =>
            yy
              .positional('id', { type: 'string', demandOption: true })
              .option('timeout', { type: 'string', describe: 'give up after this long (exit 11)' }),
          async (argv) => {
            let timeoutMs: number | null = null;
            if (argv.timeout !== undefined) {
              try {
                timeoutMs = parseDuration(argv.timeout);
              } catch (err) {
                throw new UsageError(`--timeout: ${(err as Error).message}`);
              }
            }
            const id = jobId(argv.id);
            const s = await waitFor(client(argv), id, timeoutMs);
            if (!s) throw new Exit(EXIT_CODES.wait_timeout, `job ${id} still running after ${argv.timeout}`);
            finish(s);
          },
        )
        .demandCommand(1, 'give a job command: enqueue, run, status, list, cancel, logs, events, wait'),
    )
    .command('supervisor <command>', 'Supervisors', (y) =>
      y
        .command(
          'list',
          'List supervisors with their tags and status',
          (yy) => yy.option('json', { type: 'boolean', default: false }),
          async (argv) => {
            const list = await client(argv).supervisors();
            if (argv.json) return out(JSON.stringify(list, null, 2));
            for (const s of list)
              out(
                `${s.id}  ${s.name.padEnd(16)} ${s.status.padEnd(12)} ${s.tags.join(';')}${s.job_id ? `  job ${s.job_id}` : ''}`,
              );
          },
        )
        .demandCommand(1, 'give a supervisor command: list'),
    )
    .demandCommand(1, 'give a command: job or supervisor')
    .strict()
    .help()
    .fail((msg, err) => {
      if (err) throw err;
      throw new UsageError(msg);
    })
    .parseAsync();
}

// `tml job logs ID | head` closes stdout early: that is not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

main().then(
  () => process.exit(0),
  (err: unknown) => {
    if (err instanceof Exit) {
      if (err.message) note(`tml: ${err.message}`);
      process.exit(err.code);
    }
    if (err instanceof UsageError) {
      note(`tml: ${err.message}`);
      process.exit(EXIT_CODES.usage);
    }
    if (err instanceof ApiError) {
      const what = { 401: 'not authorized (check TML_API_TOKEN)', 403: 'forbidden', 404: 'not found' }[err.status];
      note(`tml: ${what ? `${what}: ` : `switchboard error ${err.status}: `}${err.message}`);
      process.exit(EXIT_CODES.request_failed);
    }
    if (err instanceof NetworkError) {
      note(`tml: ${err.message}`);
      process.exit(EXIT_CODES.request_failed);
    }
    note(`tml: ${(err as Error).message ?? String(err)}`);
    process.exit(EXIT_CODES.request_failed);
  },
);
