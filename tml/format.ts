// What tml prints, as strings: tables with a header row, tab-separated values, a job's status,
// event lines, JSON. Nothing here writes; the commands print what these return.

import type { ExitStatus } from '../protocol/job.js';
import type { JobEventRecord, JobStatus } from '../protocol/switchboard-api.js';
import type { SupervisorStatusFull } from './api-ext.js';
import { bookName } from './outcome.js';
import type { Pool } from './supervisors.js';

export type OutputMode = 'table' | 'tsv' | 'json';

export interface Rows {
  header: string[];
  rows: string[][];
}

/** Columns two spaces apart, each as wide as its widest cell; the last column is not padded. */
export function table({ header, rows }: Rows, withHeader = true): string {
  const all = withHeader ? [header, ...rows] : rows;
  if (all.length === 0) return '';
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  return all
    .map((r) =>
      r
        .map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!)))
        .join('  ')
        .trimEnd(),
    )
    .map((line) => `${line}\n`)
    .join('');
}

/** One row a line, cells separated by tabs; a tab or line break inside a cell becomes a space. */
export function tsv({ header, rows }: Rows, withHeader = true): string {
  const clean = (c: string) => c.replace(/[\t\r\n]/g, ' ');
  return (withHeader ? [header, ...rows] : rows).map((r) => `${r.map(clean).join('\t')}\n`).join('');
}

export function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

export function stateText(s: { state: string; stage: string | null; status_message: string | null }): string {
  return `${s.state}${s.stage ? ` (${s.stage})` : ''}${s.status_message ? `: ${s.status_message}` : ''}`;
}

/** State, stage and the latest status text of a job (the text only from our switchboard). */
export function jobStateText(s: JobStatus): string {
  return stateText({
    state: s.state.type,
    stage: s.state.type === 'initializing' ? s.state.stage : null,
    status_message: s.status_message ?? null,
  });
}

/** The exit status: the final result once terminated, before that whatever our switchboard has set. */
export function outcomeOf(s: JobStatus): { status: ExitStatus; message: string | null } | null {
  if (s.state.result) return { status: s.state.result.exit_status, message: s.state.result.host_output };
  return s.exit_status ? { status: s.exit_status, message: s.exit_message ?? null } : null;
}

export function outcomeText(o: { status: ExitStatus; message: string | null }): string {
  return `${bookName(o.status)}${o.message ? `: ${o.message}` : ''}`;
}

/** `tml job status`: one `key  value` line per known field. */
export function statusText(id: string, s: JobStatus): string {
  const outcome = outcomeOf(s);
  const supervisor = s.state.dispatched_to_supervisor;
  const spec = s.init_spec;
  const rows: Array<[string, string | null | undefined]> = [
    ['job', s.job_id ?? id],
    ['owner', s.owner],
    ['state', jobStateText(s)],
    ['exit status', outcome ? outcomeText(outcome) : null],
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
  return keyValues(rows);
}

function keyValues(rows: Array<[string, string | null | undefined]>): string {
  return rows
    .filter(([, v]) => v !== null && v !== undefined && v !== '')
    .map(([k, v]) => `${k.padEnd(13)}${v}\n`)
    .join('');
}

/** `tml job list`: newest first, as the switchboard sent them. */
export function jobRows(jobs: Record<string, JobStatus>): Rows {
  return {
    header: ['JOB', 'QUEUED', 'OWNER', 'SUPERVISOR', 'STATE'],
    rows: Object.entries(jobs).map(([id, s]) => {
      const outcome = outcomeOf(s);
      const state =
        outcome && s.state.type === 'terminated' ? `terminated ${bookName(outcome.status)}` : jobStateText(s);
      const sup = s.supervisor_name ?? s.state.dispatched_to_supervisor?.slice(0, 8) ?? '-';
      return [id, s.queued_at ?? s.as_of, s.owner ?? '-', sup, state.slice(0, 80)];
    }),
  };
}

export function eventLine(e: JobEventRecord): string {
  const what =
    e.kind === 'exit_status'
      ? `exit status ${bookName(e.exit_status ?? '')}${e.status_message ? `: ${e.status_message}` : ''}`
      : `${e.kind === 'sub_state' ? 'sub-state ' : ''}${stateText(e)}`;
  return `${e.at}  ${e.by.padEnd(11)} ${what}\n`;
}

export function eventRows(events: JobEventRecord[]): Rows {
  return {
    header: ['AT', 'BY', 'KIND', 'STATE', 'STAGE', 'EXIT_STATUS', 'MESSAGE'],
    rows: events.map((e) => [
      e.at,
      e.by,
      e.kind,
      e.state,
      e.stage ?? '',
      e.exit_status ? bookName(e.exit_status) : '',
      e.status_message ?? '',
    ]),
  };
}

/** The job a supervisor holds, with its state: `JOB (ready)`. */
function heldJob(s: SupervisorStatusFull): string | null {
  if (!('job_id' in s)) return null;
  const st = s.job_state;
  return `${s.job_id} (${st.state}${st.state === 'initializing' ? `, ${st.stage}` : ''})`;
}

export function supervisorRows(list: Record<string, SupervisorStatusFull>): Rows {
  return {
    header: ['SUPERVISOR', 'NAME', 'STATUS', 'JOB', 'HELD BY', 'SINCE', 'TAGS'],
    rows: Object.entries(list).map(([id, s]) => [
      id,
      s.name ?? '-',
      s.status,
      'job_id' in s ? s.job_id : '-',
      s.job_owner ?? '-',
      s.job_since ?? '-',
      (s.tags ?? []).join(';') || '-',
    ]),
  };
}

/** `tml supervisor status`: its name, tags, status, and who holds it since when. */
export function supervisorText(id: string, s: SupervisorStatusFull): string {
  return keyValues([
    ['supervisor', s.id ?? id],
    ['name', s.name],
    ['tags', s.tags?.join(';')],
    ['status', s.status],
    ['job', heldJob(s)],
    ['held by', s.job_owner],
    ['since', s.job_since],
  ]);
}

export function poolRows(pools: Pool[]): Rows {
  return {
    header: ['POOL', 'SUPERVISORS', 'IDLE', 'BUSY', 'DISCONNECTED', 'MEMBERS'],
    rows: pools.map((p) => [
      p.tag,
      String(p.members.length),
      String(p.idle),
      String(p.busy),
      String(p.disconnected),
      p.members.join(','),
    ]),
  };
}

/** A job's progress in a few words: `initializing (booting) on rpi-1`. */
export function progressText(s: JobStatus): string {
  const where = s.state.dispatched_to_supervisor ? (s.supervisor_name ?? s.state.dispatched_to_supervisor) : null;
  const stage = s.state.type === 'initializing' ? ` (${s.state.stage})` : '';
  return `${s.state.type}${stage}${where && s.state.type !== 'queued' ? ` on ${where}` : ''}`;
}
