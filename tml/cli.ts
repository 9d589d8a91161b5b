#!/usr/bin/env node
// tml: the Treadmill user's client. Token from TML_API_TOKEN, switchboard URL from
// TML_SWITCHBOARD_URL or --switchboard. Exit codes: outcome.ts (documented in docs/switchboard.md).

import { createWriteStream, type WriteStream } from 'node:fs';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { isUuid } from '../protocol/validation.js';
import type { JobEventRecord, JobStatus } from '../protocol/switchboard-api.js';
import { ApiError, BadAnswerError, NetworkError, SwitchboardClient } from './client.js';
import { parseDuration } from '../protocol/duration.js';
import { jobRequest, UsageError, type EnqueueFlags } from './job-request.js';
import type { ExitStatus, JobRequestBody } from '../protocol/job.js';
import { EXIT_CODES, bookName, exitCodeFor } from './outcome.js';

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

/** Upstream's clients take only the base64 of 128 bytes; say so before any request is made. */
function checkToken(token: string): void {
  const bytes = /^[A-Za-z0-9+/]+={0,2}$/.test(token) ? Buffer.from(token, 'base64') : null;
  if (!bytes || bytes.toString('base64') !== token) throw new UsageError('TML_API_TOKEN is not standard base64');
  if (bytes.length !== 128) {
    throw new UsageError(`TML_API_TOKEN has invalid length (${bytes.length} bytes instead of 128 bytes)`);
  }
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
  checkToken(token);
  return new SwitchboardClient(url, token);
}

function uuidArg(id: unknown, what: string): string {
  if (!isUuid(id)) throw new UsageError(`${what} id must be a UUID, got "${String(id)}"`);
  return id;
}

const jobId = (id: unknown) => uuidArg(id, 'job');

/** Enqueues; a request no supervisor could ever match ends here with its own exit code. */
async function enqueue(c: SwitchboardClient, body: JobRequestBody): Promise<string> {
  try {
    return await c.enqueue(body);
  } catch (err) {
    if (err instanceof ApiError && err.type === 'supervisor_match_error') {
      throw new Exit(EXIT_CODES.supervisor_match_error, `SupervisorMatchError: ${err.message}`);
    }
    throw err;
  }
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

/** State, stage and the latest status text of a job (the text only from our switchboard). */
function jobStateText(s: JobStatus): string {
  return stateText({
    state: s.state.type,
    stage: s.state.type === 'initializing' ? s.state.stage : null,
    status_message: s.status_message ?? null,
  });
}

/** The exit status: the final result once terminated, before that whatever our switchboard has set. */
function outcomeOf(s: JobStatus): { status: ExitStatus; message: string | null } | null {
  if (s.state.result) return { status: s.state.result.exit_status, message: s.state.result.host_output };
  return s.exit_status ? { status: s.exit_status, message: s.exit_message ?? null } : null;
}

function printStatus(id: string, s: JobStatus): void {
  const outcome = outcomeOf(s);
  const supervisor = s.state.dispatched_to_supervisor;
  const spec = s.init_spec;
  const rows: Array<[string, string | null | undefined]> = [
    ['job', s.job_id ?? id],
    ['owner', s.owner],
    ['state', jobStateText(s)],
    ['exit status', outcome ? `${bookName(outcome.status)}${outcome.message ? `: ${outcome.message}` : ''}` : null],
    ['image', spec ? (spec.type === 'image' ? spec.image_id : `resume job ${spec.job_id}`) : null],
    ['restart of', s.restart_of],
    ['tags', s.tag_config || null],
    ['supervisor', supervisor ? `${s.supervisor_name ?? '?'} (${supervisor})` : null],
    [
      'parameters',
      s.parameters && Object.keys(s.parameters).length
        ? Object.entries(s.parameters)
            .map(([k, p]) => (p.secret ? `${k}=<secret>` : `${k}=${p.value}`))
            .join(' ')
        : null,
    ],
    ['queued', s.queued_at],
    ['scheduled', s.scheduled_at],
    ['terminated', s.state.result?.terminated_at ?? s.terminated_at],
    ['ssh', s.state.ssh_endpoints?.map((e) => `${s.state.ssh_user ?? ''}@${e.host}:${e.port}`).join(' ')],
    ['console', s.log_bytes === undefined ? null : `${s.log_bytes} bytes`],
    ['as of', s.as_of],
  ];
  for (const [k, v] of rows) if (v !== null && v !== undefined && v !== '') out(`${k.padEnd(13)}${v}`);
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

async function waitFor(c: SwitchboardClient, id: string, timeoutMs: number | null): Promise<JobStatus | null> {
  const deadline = timeoutMs === null ? Infinity : Date.now() + timeoutMs;
  const outage = new Outage();
  let delay = 100;
  for (;;) {
    try {
      const s = await c.status(id);
      outage.recovered();
      if (s.state.type === 'terminated') return s;
    } catch (err) {
      if (!outage.failed(err)) throw err;
    }
    if (Date.now() >= deadline) return null;
    await new Promise((r) => setTimeout(r, Math.min(delay, deadline - Date.now())));
    delay = Math.min(delay * 2, 1000);
  }
}

function finish(id: string, s: JobStatus): never {
  const outcome = outcomeOf(s) ?? { status: 'internal_supervisor_error' as const, message: 'no exit status recorded' };
  note(`job ${id}: ${bookName(outcome.status)}${outcome.message ? `: ${outcome.message}` : ''}`);
  throw new Exit(exitCodeFor(outcome.status));
}

/** Notes each state change of the job on stderr (stdout carries only the console) until `signal`. */
async function watchProgress(c: SwitchboardClient, id: string, signal: AbortSignal): Promise<void> {
  let last = '';
  while (!signal.aborted) {
    try {
      const s = await c.status(id);
      const where = s.state.dispatched_to_supervisor ? (s.supervisor_name ?? s.state.dispatched_to_supervisor) : null;
      const stage = s.state.type === 'initializing' ? ` (${s.state.stage})` : '';
      const now = `${s.state.type}${stage}${where && s.state.type !== 'queued' ? ` on ${where}` : ''}`;
      if (now !== last && s.state.type !== 'terminated') note(`job ${id}: ${now}`);
      last = now;
      if (s.state.type === 'terminated') return;
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
  const request = await jobRequest(argv);
  const c = client(argv);
  let logFile: WriteStream | null = null;
  if (argv.log) {
    logFile = createWriteStream(argv.log);
    await new Promise<void>((resolve, reject) => {
      logFile!.once('open', () => resolve());
      logFile!.once('error', (err) => reject(new UsageError(`--log ${argv.log}: ${err.message}`)));
    });
  }
  const id = await enqueue(c, request);
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
        // An upstream switchboard has no console log (an unknown route, not an unknown job).
        if (err instanceof ApiError && err.status === 404 && err.type !== 'invalid') {
          note(`job ${id}: this switchboard serves no console log; waiting for the job to end`);
          break;
        }
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
    await c.cancel(id);
    if (interrupted) {
      note(`job ${id}: interrupted, canceled the job`);
      throw new Exit(EXIT_CODES.interrupted);
    }
    note(`job ${id}: ${matched} text found${matched === 'completion' ? '' : ' (error)'}; canceled the job`);
    throw new Exit(matched === 'completion' ? 0 : EXIT_CODES.workload_finished_error);
  }
  const s = await waitFor(c, id, null);
  finish(id, s!);
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
    .option('parameters-file', {
      type: 'string',
      // One value always, so `-` (stdin) is not taken for a flag.
      nargs: 1,
      describe: 'read parameters (same JSON) from this file, or "-" for stdin: keeps secrets out of argv',
    })
    .option('restart-count', { type: 'number', describe: 'restart_policy.remaining_restart_count (default 0)' })
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
            const request = await jobRequest(argv as unknown as EnqueueFlags);
            out(`{"job_id": "${await enqueue(client(argv), request)}"}`);
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
              .option('json', { type: 'boolean', default: false, describe: "print the API's JobStatus object" }),
          async (argv) => {
            const id = jobId(argv.id);
            const s = await client(argv).status(id);
            if (argv.json) out(JSON.stringify(s, null, 2));
            else printStatus(id, s);
          },
        )
        .command(
          'list',
          'List your jobs (all jobs for admins), newest first',
          (yy) =>
            yy
              .option('json', {
                type: 'boolean',
                default: false,
                describe: "print the API's map of job id to JobStatus",
              })
              .option('limit', { type: 'number', default: 200 }),
          async (argv) => {
            if (!Number.isInteger(argv.limit) || argv.limit < 1 || argv.limit > 10000) {
              throw new UsageError(`--limit must be a whole number from 1 to 10000, got ${String(argv.limit)}`);
            }
            const jobs = await client(argv).list(argv.limit);
            if (argv.json) return out(JSON.stringify(jobs, null, 2));
            for (const [id, s] of Object.entries(jobs)) {
              const outcome = outcomeOf(s);
              const state =
                outcome && s.state.type === 'terminated' ? `terminated ${bookName(outcome.status)}` : jobStateText(s);
              out(`${id}  ${s.queued_at ?? s.as_of}  ${(s.owner ?? '').padEnd(10)} ${state.slice(0, 80)}`);
            }
          },
        )
        .command(
          'cancel <id>',
          'Cancel a job',
          (yy) => yy.positional('id', { type: 'string', demandOption: true }),
          async (argv) => {
            const id = jobId(argv.id);
            const s = (await client(argv).cancel(id)).job_status;
            note(s ? `job ${id}: canceled (${s.state.type})` : `job ${id}: cancel requested`);
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
            finish(id, s);
          },
        )
        .demandCommand(1, 'give a job command: enqueue, run, status, list, cancel, logs, events, wait'),
    )
    .command('supervisor <command>', 'Supervisors', (y) =>
      y
        .command(
          'list',
          'List supervisors with their status (and, from our switchboard, names and tags)',
          (yy) =>
            yy
              .option('json', { type: 'boolean', default: false, describe: "print the API's map of id to status" })
              .option('work', { choices: ['idle', 'busy'] as const, describe: 'only idle or only busy ones' })
              .option('conn', {
                choices: ['connected', 'disconnected'] as const,
                describe: 'only connected or only disconnected ones',
              }),
          async (argv) => {
            const list = await client(argv).supervisors({ work: argv.work, conn: argv.conn });
            if (argv.json) return out(JSON.stringify(list, null, 2));
            for (const [id, s] of Object.entries(list))
              out(
                `${id}  ${(s.name ?? '').padEnd(16)} ${s.status.padEnd(17)} ${(s.tags ?? []).join(';')}${'job_id' in s ? `  job ${s.job_id}` : ''}`,
              );
          },
        )
        .command(
          'status <id>',
          "Show a supervisor's status",
          (yy) =>
            yy
              .positional('id', { type: 'string', demandOption: true })
              .option('json', { type: 'boolean', default: false }),
          async (argv) => {
            const s = await client(argv).supervisor(uuidArg(argv.id, 'supervisor'));
            if (argv.json) return out(JSON.stringify(s, null, 2));
            if (s.name !== undefined) out(`${'name'.padEnd(13)}${s.name}`);
            if (s.tags !== undefined) out(`${'tags'.padEnd(13)}${s.tags.join(';')}`);
            out(`${'status'.padEnd(13)}${s.status}`);
            if ('job_id' in s) {
              const st = s.job_state;
              out(`${'job'.padEnd(13)}${s.job_id} (${st.state}${st.state === 'initializing' ? `, ${st.stage}` : ''})`);
            }
          },
        )
        .demandCommand(1, 'give a supervisor command: list, status'),
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

/** One line for a refused request, by the answer's type (or, from upstream, its status). */
function describeApiError(err: ApiError): string {
  const what: Record<string, string> = {
    unauthenticated: 'not authorized (check TML_API_TOKEN)',
    unauthorized: 'forbidden',
    invalid: 'not found',
    not_found: 'not found',
    bad_request: 'refused',
  };
  const byStatus: Record<number, string> = { 401: what.unauthenticated!, 403: 'forbidden', 404: 'not found' };
  const label = (err.type !== null ? what[err.type] : undefined) ?? byStatus[err.status];
  return `${label ?? `switchboard error ${err.status}`}: ${err.message}`;
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
      note(`tml: ${describeApiError(err)}`);
      process.exit(EXIT_CODES.request_failed);
    }
    if (err instanceof NetworkError || err instanceof BadAnswerError) {
      note(`tml: ${err.message}`);
      process.exit(EXIT_CODES.request_failed);
    }
    note(`tml: ${(err as Error).message ?? String(err)}`);
    process.exit(EXIT_CODES.request_failed);
  },
);
