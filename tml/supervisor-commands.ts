// The `tml supervisor` commands: list, status, pools, wait, release (mq's systems, system-tsv,
// pool-tsv and sem). Holding a supervisor means having a job on it: the queue is the only lock.

import { ExitWith, UsageError } from '../protocol/cli.js';
import { parseDuration } from '../protocol/duration.js';
import { isUuid } from '../protocol/validation.js';
import type { SupervisorStatusFull } from './api-ext.js';
import type { SwitchboardClient } from './client.js';
import { asOutcomeCommand, context, note, out, outputMode, str, type Args } from './context.js';
import { ApiError } from './errors.js';
import { Outage, sleep } from './follow.js';
import { json, poolRows, supervisorRows, supervisorText, table, tsv } from './format.js';
import { EXIT_CODES } from './outcome.js';
import { availability, findSupervisor, holderText, pools } from './supervisors.js';

export async function list(argv: Args): Promise<void> {
  const mode = outputMode(argv);
  const ctx = await context(argv);
  const work = str(argv, 'work') as 'idle' | 'busy' | undefined;
  const conn = str(argv, 'conn') as 'connected' | 'disconnected' | undefined;
  const sups = await ctx.client().supervisors({ work, conn });
  const header = argv.header !== false;
  if (mode === 'json') out(json(sups));
  else if (mode === 'tsv') out(tsv(supervisorRows(sups), header));
  else if (Object.keys(sups).length === 0) note('tml: no supervisors');
  else out(table(supervisorRows(sups), header));
}

/** A supervisor named by id or name: its id and status (one request for an id, the list for a name). */
async function lookUp(c: SwitchboardClient, ref: string): Promise<{ id: string; status: SupervisorStatusFull }> {
  if (isUuid(ref)) return { id: ref, status: await c.supervisor(ref) };
  const all = await c.supervisors();
  const id = findSupervisor(all, ref);
  return { id, status: all[id]! };
}

const label = (id: string, s: SupervisorStatusFull) => s.name ?? id;

export async function status(argv: Args): Promise<void> {
  const ctx = await context(argv);
  const { id, status: s } = await lookUp(ctx.client(), String(argv.supervisor));
  out(ctx.json ? json(s) : supervisorText(id, s));
}

export async function poolsCommand(argv: Args): Promise<void> {
  const mode = outputMode(argv);
  const ctx = await context(argv);
  const sups = await ctx.client().supervisors();
  const list = pools(sups);
  if (list.length === 0 && Object.values(sups).every((s) => s.tags === undefined) && Object.keys(sups).length) {
    note('tml: this switchboard reports no supervisor tags, so no pools');
  }
  const header = argv.header !== false;
  if (mode === 'json') out(json(list));
  else if (mode === 'tsv') out(tsv(poolRows(list), header));
  else if (list.length === 0) note('tml: no pools');
  else out(table(poolRows(list), header));
}

export function wait(argv: Args): Promise<number> {
  return asOutcomeCommand(async () => {
    const text = str(argv, 'timeout');
    let timeoutMs: number | null = null;
    if (text !== undefined) {
      try {
        timeoutMs = parseDuration(text);
      } catch (err) {
        throw new UsageError(`--timeout: ${(err as Error).message}`);
      }
    }
    const ctx = await context(argv);
    const c = ctx.client();
    const outage = new Outage(note);
    const deadline = timeoutMs === null ? Infinity : Date.now() + timeoutMs;
    const found = await lookUp(c, String(argv.supervisor));
    const id = found.id;
    let s = found.status;
    let last = '';
    for (;;) {
      const now = availability(s) === 'busy' ? (holderText(s) ?? 'busy') : availability(s);
      if (now !== last && availability(s) !== 'idle') note(`supervisor ${label(id, s)}: ${now}; waiting`);
      last = now;
      if (availability(s) === 'idle') break;
      if (Date.now() >= deadline) {
        throw new ExitWith(
          EXIT_CODES.wait_timeout,
          `supervisor ${label(id, s)} still ${availability(s)} after ${text}`,
        );
      }
      await sleep(Math.min(1000, Math.max(0, deadline - Date.now())));
      try {
        s = await c.supervisor(id);
        outage.recovered();
      } catch (err) {
        if (!outage.failed(err)) throw err;
      }
    }
    note(`supervisor ${label(id, s)}: idle`);
    if (ctx.json) out(json(s));
    return 0;
  });
}

export async function release(argv: Args): Promise<void> {
  const ctx = await context(argv);
  const c = ctx.client();
  const { id, status: s } = await lookUp(c, String(argv.supervisor));
  if (!('job_id' in s)) {
    note(`supervisor ${label(id, s)} holds no job (${s.status})`);
    if (ctx.json) out(json({ supervisor_id: id, job_id: null, job_status: null }));
    return;
  }
  let answer;
  try {
    answer = await c.cancel(s.job_id);
  } catch (err) {
    if (err instanceof ApiError && (err.type === 'invalid' || err.status === 403 || err.status === 404)) {
      throw new Error(
        `cannot release ${label(id, s)}: job ${s.job_id} is not yours (an admin can release another user's job)`,
      );
    }
    throw err;
  }
  note(`supervisor ${label(id, s)}: canceled job ${s.job_id}${s.job_owner ? ` of ${s.job_owner}` : ''}`);
  if (ctx.json) out(json({ supervisor_id: id, job_id: s.job_id, job_status: answer.job_status ?? null }));
}
