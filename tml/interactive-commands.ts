// The interactive `tml job` commands, seL4 mq's `-r` and `-a`: `reserve` (a host for a session of
// one's own, with a time limit), `console` (attach read-write to a running job's serial console) and
// the read-write console that `run --keep-alive` opens after its completion or error text.

import { ExitWith, UsageError } from '../protocol/cli.js';
import type { JobStatus } from '../protocol/switchboard-api.js';
import type { SwitchboardClient } from './client.js';
import { attachConsole, consoleEnd } from './console-attach.js';
import { asOutcomeCommand, bool, context, note, out, str, uuidArg, type Args } from './context.js';
import { isMissingRoute } from './errors.js';
import { Outage, sleep } from './follow.js';
import { json, outcomeOf, outcomeText, progressText } from './format.js';
import { durationArg, enqueueFlags, submit } from './job-commands.js';
import { jobRequest } from './job-request.js';
import { EXIT_CODES, exitCodeFor } from './outcome.js';

function endedCode(s: JobStatus): number {
  return exitCodeFor(outcomeOf(s)?.status ?? 'internal_supervisor_error');
}

function endedText(s: JobStatus): string {
  return outcomeText(outcomeOf(s) ?? { status: 'internal_supervisor_error', message: 'no exit status recorded' });
}

/** How to reach a reserved job, one command a line: what `reserve` prints once the host is up. */
export function reserveHowTo(id: string, s: JobStatus): string[] {
  const lines: string[] = [];
  if (s.state.ssh_endpoints?.length) lines.push(`tml job ssh ${id}`);
  lines.push(`tml job console ${id}`, `tml job cancel ${id}`);
  return lines;
}

/** Polls until the job is ready (or has ended), noting its progress; Ctrl-C aborts. */
async function untilReady(c: SwitchboardClient, id: string, interrupt: AbortSignal): Promise<JobStatus | null> {
  const outage = new Outage(note);
  let last = '';
  let delay = 100;
  for (;;) {
    try {
      const s = await c.status(id);
      outage.recovered();
      const now = progressText(s);
      if (now !== last && s.state.type !== 'terminated') note(`job ${id}: ${now}`);
      last = now;
      if (s.state.type === 'ready' || s.state.type === 'terminated') return s;
    } catch (err) {
      if (!outage.failed(err)) throw err;
    }
    await sleep(delay, interrupt);
    if (interrupt.aborted) return null;
    delay = Math.min(delay * 2, 1000);
  }
}

export function reserve(argv: Args): Promise<number> {
  return asOutcomeCommand(async () => {
    const limitMs = durationArg(argv, 'time');
    if (limitMs === null || limitMs <= 0) throw new UsageError('--time: give the time limit of the session, e.g. 2h');
    const ctx = await context(argv);
    // The session is reached with `tml job ssh`, which logs in with tml's own key.
    const flags = enqueueFlags({ ...argv, 'internal-ssh-key': !bool(argv, 'disable-internal-ssh-key') }, ctx);
    const request = await jobRequest({ ...flags, timeout: str(argv, 'time') });
    const c = ctx.client();
    const id = await submit(c, request);
    note(`job ${id} enqueued: a host for ${str(argv, 'time')}, until tml job cancel ${id}`);
    const interrupt = new AbortController();
    const onSigint = () => interrupt.abort();
    process.on('SIGINT', onSigint);
    let s: JobStatus | null;
    try {
      s = await untilReady(c, id, interrupt.signal);
    } finally {
      process.off('SIGINT', onSigint);
    }
    if (s === null) {
      await c.cancel(id).catch(() => undefined);
      throw new ExitWith(EXIT_CODES.interrupted, `job ${id}: interrupted before the host was up; canceled the job`);
    }
    if (s.state.type === 'terminated') {
      if (ctx.json) out(json({ job_id: id, ready: false, job_status: s }));
      throw new ExitWith(endedCode(s), `job ${id} ended before its host was up: ${endedText(s)}`);
    }
    // The switchboard counts the time limit from the job's start; near enough from now.
    const until = new Date(Date.now() + limitMs).toISOString();
    if (ctx.json) {
      const e = s.state.ssh_endpoints?.[0];
      const ssh = e ? { user: s.state.ssh_user, host: e.host, port: e.port } : null;
      out(json({ job_id: id, ready: true, until, ssh, job_status: s }));
      return 0;
    }
    note(`job ${id}: ready until about ${until}; it ends then, or with tml job cancel`);
    out(`${id}\n${reserveHowTo(id, s).join('\n')}\n`);
    return 0;
  });
}

export function consoleCommand(argv: Args): Promise<number> {
  return asOutcomeCommand(async () => {
    const id = uuidArg(argv.id, 'job');
    const ctx = await context(argv);
    if (ctx.json) throw new UsageError('tml job console is a terminal session; it has no --json');
    const c = ctx.client();
    const s = await c.status(id);
    if (s.state.type === 'terminated') {
      throw new ExitWith(endedCode(s), `job ${id} has ended (${endedText(s)}); tml job logs ${id} shows its console`);
    }
    let from = 0;
    if (!bool(argv, 'all')) {
      try {
        from = await consoleEnd(c, id);
      } catch (err) {
        if (isMissingRoute(err))
          throw new Error(`the switchboard at ${c.base} serves no console log (upstream's has none)`);
        throw err;
      }
    }
    const detachKeys = process.stdin.isTTY ? 'Ctrl-] detaches' : 'Ctrl-] or the end of input detaches';
    note(`tml: attached to the console of job ${id} (${progressText(s)}); ${detachKeys}`);
    const end = await attachConsole(c, id, {
      from,
      input: process.stdin,
      onOutput: (chunk) => process.stdout.write(chunk),
      note,
      outage: new Outage(note),
    });
    if (end.kind === 'detached') {
      note(`tml: detached; job ${id} goes on (tml job cancel ${id} ends it)`);
      return 0;
    }
    const final = await c.status(id);
    note(`job ${id}: ${endedText(final)}`);
    const code = endedCode(final);
    if (code !== 0) throw new ExitWith(code);
    return 0;
  });
}
