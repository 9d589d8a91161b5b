// Pieces several pages use: state and exit-status badges, short ids, job links, times.

import type { ExitStatus } from '../../../protocol/job.js';
import type { ImageSpec } from '../../../protocol/job.js';
import type { JobSummary } from '../data.js';
import { formatDateTime, formatDuration } from '../format.js';
import { html, type SafeHtml } from '../html.js';

export const shortId = (id: string) => id.slice(0, 8);

export function jobLink(id: string): SafeHtml {
  return html`<a class="mono" href="/jobs/${encodeURIComponent(id)}" title="${id}">${shortId(id)}</a>`;
}

export function stateBadge(job: Pick<JobSummary, 'state' | 'stage'>): SafeHtml {
  return html`<span class="badge state-${job.state}" data-role="state"
    >${job.state}${job.stage && job.state === 'initializing' ? html` <small>${job.stage}</small>` : ''}</span
  >`;
}

export function exitTone(status: ExitStatus): 'ok' | 'bad' | 'neutral' {
  if (status === 'workload_finished_success') return 'ok';
  if (status === 'job_canceled' || status === 'workload_finished_unknown') return 'neutral';
  return 'bad';
}

export function exitBadge(status: ExitStatus | null): SafeHtml {
  return status === null
    ? html`<span class="muted" data-role="exit">—</span>`
    : html`<span class="badge exit-${exitTone(status)}" data-role="exit">${status}</span>`;
}

export function time(ms: number | null): SafeHtml {
  return ms === null
    ? html`<span class="muted">—</span>`
    : html`<time datetime="${new Date(ms).toISOString()}">${formatDateTime(ms)}</time>`;
}

export function imageLabel(spec: ImageSpec): SafeHtml {
  return spec.type === 'image'
    ? html`<span class="mono" title="${spec.image_id}">${spec.image_id.slice(0, 12)}</span>`
    : html`resume of ${jobLink(spec.job_id)}`;
}

/** How long a job ran (or has been running), from its scheduling. */
export function runTime(job: JobSummary, now: number): string {
  if (job.scheduledAt === null) return job.terminatedAt === null ? `queued ${formatDuration(now - job.queuedAt)}` : '—';
  return formatDuration((job.terminatedAt ?? now) - job.scheduledAt);
}

export function tagList(tags: readonly string[]): SafeHtml {
  return tags.length === 0
    ? html`<span class="muted">none</span>`
    : html`${tags.map((t) => html`<span class="tag">${t}</span>`)}`;
}
