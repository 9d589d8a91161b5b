// /jobs: the job list, newest first, with its filter form and cursor pagination.

import { EXECUTION_STATES, EXIT_STATUSES } from '../../../protocol/job.js';
import type { JobPage, WebUser } from '../data.js';
import { html, type SafeHtml } from '../html.js';
import { listQueryString, type ListForm } from '../query.js';
import { exitBadge, imageLabel, jobLink, runTime, stateBadge, tagList, time } from './common.js';
import { page, type PageFrame } from './layout.js';

function select(name: string, label: string, options: readonly string[], value: string): SafeHtml {
  return html`<label
    >${label}<select name="${name}">
      <option value="">any</option>
      ${options.map((o) => html`<option${o === value ? html` selected` : ''}>${o}</option>`)}
    </select></label
  >`;
}

function input(name: keyof ListForm, label: string, form: ListForm, placeholder = ''): SafeHtml {
  return html`<label>${label}<input name="${name}" value="${form[name]}" placeholder="${placeholder}" /></label>`;
}

export function jobsPage(
  f: PageFrame,
  user: WebUser,
  form: ListForm,
  result: JobPage | null,
  error: string | null,
  firstPage: boolean,
  now: number,
): SafeHtml {
  const filters = html`<form class="filters" method="get" action="/jobs">
    ${select('state', 'State', EXECUTION_STATES, form.state)} ${select('exit', 'Exit status', EXIT_STATUSES, form.exit)}
    ${user.isAdmin ? input('user', 'User', form, 'name') : ''} ${input('supervisor', 'Supervisor', form, 'name or id')}
    ${input('tag', 'Tag', form, 'board:x')} ${input('image', 'Image', form, 'id prefix')}
    ${input('from', 'Queued from', form, '2026-05-01')} ${input('until', 'until', form, '2026-05-01T18:00')}
    <div class="actions"><button type="submit">Filter</button> <a href="/jobs">Clear</a></div>
  </form>`;
  const rows =
    result === null
      ? ''
      : result.jobs.length === 0
        ? html`<p class="empty">No jobs${listQueryString(form) ? ' match these filters' : ' yet'}.</p>`
        : html`<table class="list jobs">
            <thead>
              <tr>
                <th>Job</th>
                <th>State</th>
                <th>Exit status</th>
                <th>Owner</th>
                <th>Supervisor</th>
                <th>Tags</th>
                <th>Image</th>
                <th>Queued (UTC)</th>
                <th>Run time</th>
              </tr>
            </thead>
            <tbody>
              ${result.jobs.map(
                (j) =>
                  html`<tr>
                    <td>${jobLink(j.id)}</td>
                    <td>${stateBadge(j)}</td>
                    <td>${exitBadge(j.exitStatus)}</td>
                    <td>${j.owner.name}</td>
                    <td>
                      ${j.supervisor ? html`<a href="/supervisors/${encodeURIComponent(j.supervisor.id)}">${j.supervisor.name}</a>` : html`<span class="muted">—</span>`}
                    </td>
                    <td>${tagList(j.tags)}</td>
                    <td>${imageLabel(j.initSpec)}</td>
                    <td>${time(j.queuedAt)}</td>
                    <td>${runTime(j, now)}</td>
                  </tr>`,
              )}
            </tbody>
          </table>`;
  const pager =
    result === null
      ? ''
      : html`<nav class="pager">
          ${firstPage ? '' : html`<a href="/jobs${listQueryString(form)}">« Newest</a>`}${
            result.next ? html`<a rel="next" href="/jobs${listQueryString(form, result.next)}">Older »</a>` : ''
          }
        </nav>`;
  return page(
    { ...f, title: 'Jobs', nav: 'jobs' },
    html`<h1>Jobs${user.isAdmin ? '' : html` <small class="muted">yours</small>`}</h1>
      ${filters} ${error ? html`<p class="alert" role="alert">${error}</p>` : ''} ${rows} ${pager}`,
  );
}
