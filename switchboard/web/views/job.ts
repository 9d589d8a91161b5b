// /jobs/:id: the job's request (secrets hidden), where it runs, its timeline, its outcome, and
// the console with its channels, times, search and download. The script (client/console.ts)
// makes the console live; without it the page is complete as it is.

import { lineHtml } from '../console-html.js';
import type { JobDetail, JobEvent } from '../data.js';
import { formatBytes, formatClock, formatDateTime } from '../format.js';
import { html, type SafeHtml } from '../html.js';
import type { Redactor } from '../redact.js';
import type { WireLine } from '../wire.js';
import { exitBadge, imageLabel, runTime, stateBadge, tagList, time } from './common.js';
import { csrfField, page, type PageFrame } from './layout.js';

export interface ConsoleView {
  lines: WireLine[];
  from: number;
  next: number;
  /** The window reaches the end of the console. */
  atEnd: boolean;
}

export interface JobPageModel {
  job: JobDetail;
  events: JobEvent[];
  console: ConsoleView;
  redactor: Redactor;
  mayCancel: boolean;
  mayRunAgain: boolean;
  /** Why an admin may not run this job again, if so. */
  runAgainNote: string | null;
  notice: string | null;
  now: number;
}

/** The job's start for relative times: when it was dispatched, else when it was queued. */
export const jobStart = (job: JobDetail) => job.scheduledAt ?? job.queuedAt;

export function eventItem(e: JobEvent, redactor: Redactor): SafeHtml {
  const message = redactor.textOrNull(e.statusMessage);
  const what =
    e.kind === 'exit_status'
      ? html`exit status <b>${e.exitStatus}</b>`
      : e.kind === 'state'
        ? html`→ <b>${e.state}</b>${e.stage ? html` <span class="stage">${e.stage}</span>` : ''}`
        : html`<span class="stage">${e.stage ?? e.state}</span>`;
  return html`<li data-seq="${e.seq}">
    <time datetime="${new Date(e.at).toISOString()}" title="${formatDateTime(e.at)}">${formatClock(e.at)}</time>
    <span class="by">${e.by}</span> ${what}${message ? html` <q>${message}</q>` : ''}
  </li>`;
}

function details(job: JobDetail, now: number): SafeHtml {
  return html`<dl class="facts">
    <dt>Owner</dt>
    <dd>${job.owner.name}</dd>
    <dt>Supervisor</dt>
    <dd>
      ${job.supervisor ? html`<a href="/supervisors/${encodeURIComponent(job.supervisor.id)}">${job.supervisor.name}</a>` : html`<span class="muted">not dispatched</span>`}
    </dd>
    <dt>Tags</dt>
    <dd>${tagList(job.tags)}</dd>
    <dt>Image</dt>
    <dd>${imageLabel(job.initSpec)}</dd>
    <dt>Queued</dt>
    <dd>${time(job.queuedAt)}</dd>
    <dt>Scheduled</dt>
    <dd>${time(job.scheduledAt)}</dd>
    <dt>Terminated</dt>
    <dd>${time(job.terminatedAt)}</dd>
    <dt>Run time</dt>
    <dd>${runTime(job, now)}</dd>
    <dt>Timeout</dt>
    <dd>
      ${job.timeoutSeconds === null ? html`<span class="muted">switchboard default</span>` : `${job.timeoutSeconds} s`}
    </dd>
    <dt>Restarts left</dt>
    <dd>${job.remainingRestarts}</dd>
    <dt>Console</dt>
    <dd>
      ${formatBytes(job.console.end)}
      received${job.console.start > 0 ? html`, the oldest ${formatBytes(job.console.start)} no longer stored` : ''}
    </dd>
  </dl>`;
}

function parameters(job: JobDetail): SafeHtml {
  if (job.parameters.length === 0) return html`<p class="muted">No parameters.</p>`;
  return html`<table class="list params">
    <thead>
      <tr>
        <th>Parameter</th>
        <th>Value</th>
      </tr>
    </thead>
    <tbody>
      ${job.parameters.map(
        (p) =>
          html`<tr>
            <td class="mono">${p.name}</td>
            <td>
              ${p.secret ? html`<span class="secret">secret, hidden</span>` : html`<span class="mono">${p.value}</span>`}
            </td>
          </tr>`,
      )}
    </tbody>
  </table>`;
}

function outcome(job: JobDetail, redactor: Redactor): SafeHtml {
  const message = redactor.textOrNull(job.exitMessage);
  return html`<section class="outcome" id="outcome">
    <h2>Outcome</h2>
    <p>
      ${job.exitStatus === null ? html`<span class="muted" data-role="exit">No exit status yet.</span>` : exitBadge(job.exitStatus)}
      <span class="muted" data-role="status"
        >${job.state !== 'terminated' ? redactor.textOrNull(job.statusMessage) : ''}</span
      >
    </p>
    <pre class="output" data-role="exit-message" ${message ? '' : html` hidden`}>${message ?? ''}</pre>
  </section>`;
}

function actions(m: JobPageModel, csrf: string | null): SafeHtml {
  const id = encodeURIComponent(m.job.id);
  return html`<div class="job-actions">
    ${m.mayCancel ? html`<form method="post" action="/jobs/${id}/cancel" data-role="cancel">${csrfField(csrf)}<button type="submit" class="danger">Cancel job</button></form>` : ''}
    ${m.mayRunAgain ? html`<form method="post" action="/jobs/${id}/rerun">${csrfField(csrf)}<button type="submit">Run again</button></form>` : ''}
    ${m.runAgainNote ? html`<span class="muted small">${m.runAgainNote}</span>` : ''}
  </div>`;
}

function consoleSection(m: JobPageModel): SafeHtml {
  const { job, console: view } = m;
  const id = encodeURIComponent(job.id);
  const t0 = jobStart(job);
  const live = job.state !== 'terminated' && view.atEnd;
  const earlier =
    view.from > job.console.start
      ? html`<a class="earlier" data-before="${view.from}" href="/jobs/${id}?before=${view.from}#console"
          >Earlier output</a
        >`
      : job.console.start > 0
        ? html`<p class="gap">Output before byte ${job.console.start} is no longer stored.</p>`
        : '';
  const later = view.atEnd
    ? ''
    : html`<a class="later" data-from="${view.next}" href="/jobs/${id}?from=${view.next}#console">Later output</a>
        <a class="later" href="/jobs/${id}#console">Jump to the end</a>`;
  const events = m.events.filter((e) => e.kind !== 'sub_state');
  const subStates = m.events.filter((e) => e.kind === 'sub_state');
  return html`<section
    class="console-section"
    id="console"
    data-job="${job.id}"
    data-resume="${view.next}"
    data-live="${live ? '1' : '0'}"
    data-t0="${t0}"
    data-last-seq="${m.events[m.events.length - 1]?.seq ?? 0}"
  >
    <h2>Console</h2>
    <div class="toolbar">
      <fieldset>
        <legend>Show</legend>
        <label><input type="checkbox" id="ch-console" checked /> Serial console</label>
        <label><input type="checkbox" id="ch-events" checked /> Job events</label>
        <label><input type="checkbox" id="ch-substates" checked /> Sub-states</label>
      </fieldset>
      <fieldset>
        <legend>Line times</legend>
        <label><input type="radio" name="ts" id="ts-off" checked /> off</label>
        <label><input type="radio" name="ts" id="ts-abs" /> UTC</label>
        <label><input type="radio" name="ts" id="ts-rel" /> since start</label>
      </fieldset>
      <label class="js-only follow"
        ><input type="checkbox" id="follow" ${live ? html` checked` : html` disabled`} /> Follow</label
      >
      <form class="search" method="get" action="/jobs/${id}/search" role="search">
        <input
          type="search"
          name="q"
          id="search-q"
          placeholder="Search the whole console"
          maxlength="200"
          aria-label="Search the whole console"
        /><button type="submit">Search</button>
      </form>
      <a class="button" href="/jobs/${id}/console.log" download>Download raw log</a>
    </div>
    <div class="search-results js-only" id="search-results" hidden></div>
    <div class="panes">
      <div class="pane pane-console">
        <div class="console" id="console-lines" tabindex="0">
          ${earlier}
          <div class="lines" id="lines">${view.lines.map((l) => lineHtml(l, t0))}</div>
          ${later}
          ${view.lines.length === 0 && view.atEnd ? html`<p class="empty" id="console-empty">No console output${live ? ' yet' : ''}.</p>` : ''}
        </div>
        <p class="console-status" id="console-status" data-state="${live ? 'live' : 'ended'}">
          ${live ? 'Live' : job.state === 'terminated' ? 'The job has ended.' : 'Showing part of the console.'}
        </p>
      </div>
      <div class="side">
        <div class="pane pane-events">
          <h3>Job events</h3>
          <ol class="events" id="events">
            ${events.map((e) => eventItem(e, m.redactor))}
          </ol>
        </div>
        <div class="pane pane-substates">
          <h3>Sub-states</h3>
          <ol class="events" id="substates">
            ${subStates.length ? subStates.map((e) => eventItem(e, m.redactor)) : ''}
          </ol>
        </div>
      </div>
    </div>
  </section>`;
}

export function jobPage(f: PageFrame, m: JobPageModel): SafeHtml {
  const { job } = m;
  return page(
    { ...f, title: `Job ${job.id.slice(0, 8)}`, nav: 'jobs' },
    html`<div class="job-head">
        <h1>Job <span class="mono">${job.id}</span></h1>
        <div class="job-status">${stateBadge(job)} ${exitBadge(job.exitStatus)}</div>
        ${actions(m, f.csrf)}
      </div>
      ${m.notice ? html`<p class="alert" role="status">${m.notice}</p>` : ''}
      <div class="job-grid">
        <section>
          <h2>Request</h2>
          ${details(job, m.now)}
          <h3>Parameters</h3>
          ${parameters(job)}${
            job.sshKeys.length
              ? html`<h3>SSH keys</h3>
                  <ul class="keys">
                    ${job.sshKeys.map((k) => html`<li class="mono" title="${k}">${k.length > 60 ? `${k.slice(0, 28)}…${k.slice(-28)}` : k}</li>`)}
                  </ul>`
              : ''
          }
        </section>
        ${outcome(job, m.redactor)}
      </div>
      ${consoleSection(m)}`,
  );
}

/** /jobs/:id/search without the script: the hits as links into the console. */
export function searchPage(
  f: PageFrame,
  job: JobDetail,
  query: string,
  hits: Array<{ id: number; text: string }>,
  truncated: boolean,
): SafeHtml {
  const id = encodeURIComponent(job.id);
  return page(
    { ...f, title: `Search in job ${job.id.slice(0, 8)}`, nav: 'jobs' },
    html`<h1>Search in job <a class="mono" href="/jobs/${id}">${job.id.slice(0, 8)}</a></h1>
      <form class="search" method="get" action="/jobs/${id}/search" role="search">
        <input type="search" name="q" value="${query}" maxlength="200" aria-label="Search the whole console" /><button
          type="submit"
        >
          Search
        </button>
      </form>
      <p>
        ${hits.length === 0 ? 'No line matches.' : `${hits.length}${truncated ? '+' : ''} matching line${hits.length === 1 ? '' : 's'}.`}
      </p>
      <ol class="hits">
        ${hits.map((h) => html`<li><a href="/jobs/${id}?at=${h.id}#L${h.id}" class="mono">${h.text}</a></li>`)}
      </ol>`,
  );
}
