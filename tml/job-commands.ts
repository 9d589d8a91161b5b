// The `tml job` commands: enqueue, run, status, list, cancel, logs, events, wait, ssh.

import { spawn } from 'node:child_process';
import { createWriteStream, mkdtempSync, rmSync, writeFileSync, type WriteStream } from 'node:fs';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExitWith, UsageError } from '../protocol/cli.js';
import { parseDuration } from '../protocol/duration.js';
import type { JobRequestBody } from '../protocol/job.js';
import type { JobEventRecord } from '../protocol/switchboard-api.js';
import type { SwitchboardClient } from './client.js';
import {
  asOutcomeCommand,
  bool,
  context,
  note,
  out,
  outputMode,
  str,
  strs,
  uuidArg,
  type Args,
  type Ctx,
} from './context.js';
import { ApiError, isMissingRoute } from './errors.js';
import { NoConsoleLog, Outage, followConsole, followEvents, waitForJob } from './follow.js';
import { eventLine, eventRows, jobRows, json, outcomeOf, outcomeText, statusText, table, tsv } from './format.js';
import { filterJobs, listQuery } from './job-filter.js';
import { jobRequest, type EnqueueFlags } from './job-request.js';
import { EXIT_CODES, exitCodeFor, runExitCode, type RunEnd } from './outcome.js';
import { keepConsole } from './console-attach.js';
import { followRun } from './run.js';
import { knownHostsLines, sshArgs, sshTarget } from './ssh-command.js';
import { existingKeyFile, internalPublicKey } from './ssh-key.js';

export function durationArg(argv: Args, flag: string): number | null {
  const text = str(argv, flag);
  if (text === undefined) return null;
  try {
    return parseDuration(text);
  } catch (err) {
    throw new UsageError(`--${flag}: ${(err as Error).message}`);
  }
}

/** The enqueue flags as job-request.ts takes them, with the configuration's keys and tml's own. */
export function enqueueFlags(argv: Args, ctx: Ctx): EnqueueFlags {
  const wantInternal = bool(argv, 'disable-internal-ssh-key')
    ? false
    : bool(argv, 'internal-ssh-key') || ctx.settings.internalSshKey;
  let internalSshKey: string | null = null;
  if (wantInternal) {
    const key = internalPublicKey(ctx.settings.sshKeyFile);
    if (key.created) note(`tml: made an SSH key for tml job ssh: ${ctx.settings.sshKeyFile}`);
    internalSshKey = key.publicKey;
  }
  return {
    image: String(argv.image),
    tagConfig: str(argv, 'tag-config'),
    supervisor: str(argv, 'supervisor'),
    parameters: str(argv, 'parameters'),
    parametersFile: str(argv, 'parameters-file'),
    sshKey: strs(argv, 'ssh-key'),
    configSshKeys: ctx.settings.sshKeys,
    internalSshKey,
    timeout: str(argv, 'timeout'),
    restartCount: str(argv, 'restart-count'),
  };
}

/** Enqueues; a request no supervisor could ever match ends here with its own exit code. */
export async function submit(c: SwitchboardClient, body: JobRequestBody): Promise<string> {
  try {
    return await c.enqueue(body);
  } catch (err) {
    if (err instanceof ApiError && err.type === 'supervisor_match_error') {
      throw new ExitWith(EXIT_CODES.supervisor_match_error, `SupervisorMatchError: ${err.message}`);
    }
    throw err;
  }
}

export async function enqueue(argv: Args): Promise<void> {
  const ctx = await context(argv);
  const request = await jobRequest(enqueueFlags(argv, ctx));
  // The book's workflow pipes this to `jq -r .job_id`: one JSON object, with or without --json.
  out(`{"job_id": "${await submit(ctx.client(), request)}"}\n`);
}

function compileRegex(text: string | undefined, flag: string): RegExp | null {
  if (text === undefined) return null;
  try {
    return new RegExp(text, 'm');
  } catch (err) {
    throw new UsageError(`--${flag}: invalid regular expression: ${(err as Error).message}`);
  }
}

async function openLog(path: string | undefined): Promise<WriteStream | null> {
  if (path === undefined) return null;
  const file = createWriteStream(path);
  await new Promise<void>((resolve, reject) => {
    file.once('open', () => resolve());
    file.once('error', (err) => reject(new UsageError(`--log ${path}: ${err.message}`)));
  });
  return file;
}

const RUN_RESULT: Record<RunEnd['kind'], string> = {
  ended: 'ended',
  matched: 'matched',
  completion_timeout: 'completion_timeout',
  interrupted: 'interrupted',
};

export function run(argv: Args): Promise<number> {
  return asOutcomeCommand(async () => {
    const completion = compileRegex(str(argv, 'completion-text'), 'completion-text');
    const error = compileRegex(str(argv, 'error-text'), 'error-text');
    const completionTimeoutMs = durationArg(argv, 'completion-timeout');
    const keepAlive = bool(argv, 'keep-alive');
    if (keepAlive && !completion && !error) {
      throw new UsageError('--keep-alive keeps the job after the completion or error text: give one of them');
    }
    const ctx = await context(argv);
    if (keepAlive && ctx.json)
      throw new UsageError('--keep-alive puts the console on stdout; it cannot go with --json');
    const request = await jobRequest(enqueueFlags(argv, ctx));
    const c = ctx.client();
    const logFile = await openLog(str(argv, 'log'));
    const id = await submit(c, request);
    note(`job ${id} enqueued`);
    const interrupt = new AbortController();
    const onSigint = () => interrupt.abort();
    process.on('SIGINT', onSigint);
    let result;
    // With --json, stdout carries the JSON alone; the console goes to --log only.
    const onConsole = (chunk: Buffer) => {
      if (!ctx.json) process.stdout.write(chunk);
      logFile?.write(chunk);
    };
    try {
      result = await followRun(c, id, {
        completion,
        error,
        completionTimeoutMs,
        note,
        outage: new Outage(note),
        interrupt: interrupt.signal,
        onConsole,
      });
      if (keepAlive && result.end.kind === 'matched') {
        // mq -a: the job stays up and the console becomes read-write until the user detaches.
        const ended = await keepConsole(c, id, result.end.which, result.offset, onConsole);
        if (ended !== null) result = { ...result, status: ended };
      }
    } finally {
      process.off('SIGINT', onSigint);
      if (logFile) await new Promise((r) => logFile.end(r));
    }
    const { end } = result;
    let status = result.status;
    if (end.kind !== 'ended' && status?.state.type !== 'terminated') {
      const why =
        end.kind === 'interrupted'
          ? 'interrupted'
          : end.kind === 'completion_timeout'
            ? `no completion text within ${str(argv, 'completion-timeout')}`
            : end.which === 'completion'
              ? 'completion text found'
              : 'error text found (error)';
      try {
        status = (await c.cancel(id)).job_status ?? null;
        note(`job ${id}: ${why}; canceled the job`);
      } catch (err) {
        note(`job ${id}: ${why}; could not cancel the job (${(err as Error).message}): tml job cancel ${id}`);
      }
    } else {
      const fallback = end.kind === 'ended' ? end.status : 'internal_supervisor_error';
      note(`job ${id}: ${outcomeText(outcomeOf(status!) ?? { status: fallback, message: 'no exit status recorded' })}`);
    }
    const code = runExitCode(end);
    if (ctx.json) {
      out(
        json({
          job_id: id,
          result: RUN_RESULT[end.kind],
          matched: end.kind === 'matched' ? end.which : null,
          exit_status: end.kind === 'ended' ? end.status : null,
          exit_code: code,
          job_status: status,
        }),
      );
    }
    if (code !== 0) throw new ExitWith(code);
    return 0;
  });
}

export async function status(argv: Args): Promise<void> {
  const id = uuidArg(argv.id, 'job');
  const ctx = await context(argv);
  const s = await ctx.client().status(id);
  out(ctx.json ? json(s) : statusText(id, s));
}

export async function list(argv: Args): Promise<void> {
  const mode = outputMode(argv);
  const q = listQuery(
    {
      limit: str(argv, 'limit'),
      cursor: str(argv, 'cursor'),
      state: str(argv, 'state'),
      exitStatus: str(argv, 'exit-status'),
      tag: str(argv, 'tag'),
      supervisor: str(argv, 'supervisor'),
      since: str(argv, 'since'),
    },
    Date.now(),
  );
  const ctx = await context(argv);
  const c = ctx.client();
  let page = await c.listPage(q);
  const jobs = { ...page.jobs };
  const seen = new Set<string>();
  while (bool(argv, 'all') && typeof page.next_cursor === 'string' && !seen.has(page.next_cursor)) {
    seen.add(page.next_cursor);
    page = await c.listPage({ ...q, cursor: page.next_cursor });
    Object.assign(jobs, page.jobs);
  }
  const filtered = filterJobs(q, jobs);
  if (filtered.notApplied.length) {
    note(`tml: this switchboard's answers do not show what ${filtered.notApplied.join(' and ')} selects; not applied`);
  }
  const header = argv.header !== false;
  if (mode === 'json') out(json(filtered.jobs));
  else if (mode === 'tsv') out(tsv(jobRows(filtered.jobs), header));
  else if (Object.keys(filtered.jobs).length === 0) note('tml: no jobs');
  else out(table(jobRows(filtered.jobs), header));
  if (!bool(argv, 'all') && typeof page.next_cursor === 'string') {
    note(`tml: more jobs: add --cursor ${page.next_cursor} (or --all)`);
  }
}

export async function cancel(argv: Args): Promise<void> {
  const id = uuidArg(argv.id, 'job');
  const ctx = await context(argv);
  const s = (await ctx.client().cancel(id)).job_status ?? null;
  note(s ? `job ${id}: canceled (${s.state.type})` : `job ${id}: cancel requested`);
  if (ctx.json) out(json({ job_id: id, job_status: s }));
}

function noConsole(c: SwitchboardClient): Error {
  return new Error(`the switchboard at ${c.base} serves no console log (upstream's has none)`);
}

export async function logs(argv: Args): Promise<void> {
  const id = uuidArg(argv.id, 'job');
  const ctx = await context(argv);
  const c = ctx.client();
  // Console bytes are not always text: with --json, one line per piece, its bytes in base64.
  const emit = (data: Buffer, offset: number) => {
    if (ctx.json) out(`${JSON.stringify({ offset, data_base64: data.toString('base64') })}\n`);
    else process.stdout.write(data);
  };
  if (bool(argv, 'follow')) {
    try {
      await followConsole(c, id, {
        outage: new Outage(note),
        onChunk: emit,
        onGap: (from, to) => note(`tml: ${to - from} bytes of older console output were dropped by the switchboard`),
      });
    } catch (err) {
      if (err instanceof NoConsoleLog) throw noConsole(c);
      throw err;
    }
    return;
  }
  let offset = 0;
  for (;;) {
    let r;
    try {
      r = await c.log(id, offset);
    } catch (err) {
      if (isMissingRoute(err)) throw noConsole(c);
      throw err;
    }
    if (r.data.length) emit(r.data, r.offset);
    if (r.data.length === 0 || r.next === offset) break;
    offset = r.next;
  }
}

async function allEvents(c: SwitchboardClient, id: string): Promise<JobEventRecord[]> {
  try {
    let page = await c.eventsPage(id);
    const events = [...page.events];
    while (typeof page.next === 'number') {
      const after = page.next;
      page = await c.eventsPage(id, after);
      if (page.events.length === 0) break;
      events.push(...page.events);
    }
    return events;
  } catch (err) {
    if (isMissingRoute(err)) throw new Error(`the switchboard at ${c.base} serves no job events (upstream's has none)`);
    throw err;
  }
}

export async function events(argv: Args): Promise<void> {
  const id = uuidArg(argv.id, 'job');
  const mode = outputMode(argv);
  const ctx = await context(argv);
  const c = ctx.client();
  const header = argv.header !== false;
  if (!bool(argv, 'follow')) {
    const list = await allEvents(c, id);
    if (mode === 'json') out(json(list));
    else if (mode === 'tsv') out(tsv(eventRows(list), header));
    else out(list.map(eventLine).join(''));
    return;
  }
  if (mode === 'tsv' && header) out(tsv({ header: eventRows([]).header, rows: [] }));
  try {
    await followEvents(c, id, {
      outage: new Outage(note),
      onEvent: (e) => {
        if (mode === 'json') out(`${JSON.stringify(e)}\n`);
        else if (mode === 'tsv') out(tsv(eventRows([e]), false));
        else out(eventLine(e));
      },
    });
  } catch (err) {
    if (isMissingRoute(err)) throw new Error(`the switchboard at ${c.base} serves no job events (upstream's has none)`);
    throw err;
  }
}

export function wait(argv: Args): Promise<number> {
  return asOutcomeCommand(async () => {
    const id = uuidArg(argv.id, 'job');
    const timeoutMs = durationArg(argv, 'timeout');
    const ctx = await context(argv);
    const s = await waitForJob(ctx.client(), id, { timeoutMs, outage: new Outage(note) });
    if (!s) throw new ExitWith(EXIT_CODES.wait_timeout, `job ${id} still running after ${str(argv, 'timeout')}`);
    const outcome = outcomeOf(s) ?? {
      status: 'internal_supervisor_error' as const,
      message: 'no exit status recorded',
    };
    note(`job ${id}: ${outcomeText(outcome)}`);
    if (ctx.json) out(json(s));
    const code = exitCodeFor(outcome.status);
    if (code !== 0) throw new ExitWith(code);
    return 0;
  });
}

export async function ssh(argv: Args): Promise<number> {
  const id = uuidArg(argv.id, 'job');
  const ctx = await context(argv);
  const target = sshTarget(id, await ctx.client().status(id));
  const keyFile = existingKeyFile(ctx.settings.sshKeyFile);
  if (ctx.json) {
    const { user, host, port, hostKeys } = target;
    out(json({ job_id: id, user, host, port, host_keys: hostKeys, identity_file: keyFile }));
    return 0;
  }
  let knownHostsDir: string | null = null;
  let knownHostsFile: string | null = null;
  if (target.hostKeys.length) {
    // The switchboard vouches for the host's keys: check them, in a file of this connection's own.
    knownHostsDir = mkdtempSync(join(tmpdir(), 'tml-ssh-'));
    knownHostsFile = join(knownHostsDir, 'known_hosts');
    writeFileSync(knownHostsFile, knownHostsLines(target));
  } else {
    note('tml: the switchboard gives no host key for this job; connecting without checking it');
  }
  const args = sshArgs(target, { identityFile: keyFile, knownHostsFile, extra: strs(argv, '--') ?? [] });
  try {
    const code = await new Promise<number>((resolve, reject) => {
      const child = spawn('ssh', args, { stdio: 'inherit' });
      child.once('error', reject);
      child.once('exit', (c, signal) => resolve(c ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 127)));
    });
    if (code !== 0) throw new ExitWith(code);
    return 0;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new Error('ssh is not on PATH (Debian: apt-get install openssh-client)');
    }
    throw err;
  } finally {
    if (knownHostsDir) rmSync(knownHostsDir, { recursive: true, force: true });
  }
}
