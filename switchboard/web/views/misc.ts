// /supervisors, /supervisors/:id, /tokens and /login.

import type { ApiTokenInfo, JobSummary, SupervisorSummary } from '../data.js';
import { html, type SafeHtml } from '../html.js';
import { exitBadge, jobLink, runTime, stateBadge, tagList, time } from './common.js';
import { csrfField, page, type PageFrame } from './layout.js';

function connection(s: SupervisorSummary): SafeHtml {
  return html`<span class="badge conn-${s.connection}"
    >${s.connection === 'disconnected' ? 'disconnected' : `connected, ${s.connection}`}</span
  >`;
}

function currentJob(s: SupervisorSummary): SafeHtml {
  return s.currentJobId ? jobLink(s.currentJobId) : html`<span class="muted">—</span>`;
}

export function supervisorsPage(f: PageFrame, list: SupervisorSummary[]): SafeHtml {
  return page(
    { ...f, title: 'Supervisors', nav: 'supervisors' },
    html`<h1>Supervisors</h1>
      ${
        list.length === 0
          ? html`<p class="empty">No supervisors are registered (<code>tml-switchboard supervisor add</code>).</p>`
          : html`<table class="list">
              <thead>
                <tr>
                  <th>Name</th>
                  <th>Tags</th>
                  <th>Connection</th>
                  <th>Current job</th>
                  <th>Last seen (UTC)</th>
                </tr>
              </thead>
              <tbody>
                ${list.map(
                  (s) =>
                    html`<tr>
                      <td><a href="/supervisors/${encodeURIComponent(s.id)}">${s.name}</a></td>
                      <td>${tagList(s.tags)}</td>
                      <td>${connection(s)}</td>
                      <td>${currentJob(s)}</td>
                      <td>${time(s.lastSeenAt)}</td>
                    </tr>`,
                )}
              </tbody>
            </table>`
      }`,
  );
}

export function supervisorPage(f: PageFrame, s: SupervisorSummary, recent: JobSummary[], now: number): SafeHtml {
  return page(
    { ...f, title: `Supervisor ${s.name}`, nav: 'supervisors' },
    html`<h1>Supervisor ${s.name}</h1>
      <dl class="facts">
        <dt>Id</dt>
        <dd class="mono">${s.id}</dd>
        <dt>Tags</dt>
        <dd>${tagList(s.tags)}</dd>
        <dt>Connection</dt>
        <dd>${connection(s)}</dd>
        <dt>Current job</dt>
        <dd>${currentJob(s)}</dd>
        <dt>Last seen</dt>
        <dd>${time(s.lastSeenAt)}</dd>
      </dl>
      <h2>Recent jobs</h2>
      ${
        recent.length === 0
          ? html`<p class="empty">No jobs of yours have run here.</p>`
          : html`<table class="list">
                <thead>
                  <tr>
                    <th>Job</th>
                    <th>State</th>
                    <th>Exit status</th>
                    <th>Owner</th>
                    <th>Queued (UTC)</th>
                    <th>Run time</th>
                  </tr>
                </thead>
                <tbody>
                  ${recent.map(
                    (j) =>
                      html`<tr>
                        <td>${jobLink(j.id)}</td>
                        <td>${stateBadge(j)}</td>
                        <td>${exitBadge(j.exitStatus)}</td>
                        <td>${j.owner.name}</td>
                        <td>${time(j.queuedAt)}</td>
                        <td>${runTime(j, now)}</td>
                      </tr>`,
                  )}
                </tbody>
              </table>
              <p><a href="/jobs?supervisor=${encodeURIComponent(s.id)}">All jobs on ${s.name}</a></p>`
      }`,
  );
}

export const TOKEN_LIFETIMES = [
  ['1d', '1 day', 86_400_000],
  ['7d', '7 days', 7 * 86_400_000],
  ['30d', '30 days', 30 * 86_400_000],
  ['90d', '90 days', 90 * 86_400_000],
  ['never', 'never expires', null],
] as const;

export function tokensPage(
  f: PageFrame,
  tokens: ApiTokenInfo[],
  created: { token: string; info: ApiTokenInfo } | null,
  notice: string | null,
): SafeHtml {
  return page(
    { ...f, title: 'API tokens', nav: 'tokens' },
    html`<h1>API tokens</h1>
      <p class="muted">
        Tokens let <code>tml</code> and scripts use the REST API as you. A token is shown once, when it is created; the
        switchboard keeps only its hash.
      </p>
      ${notice ? html`<p class="alert" role="status">${notice}</p>` : ''}
      ${
        created
          ? html`<div class="new-token" role="status">
              <p><b>Your new token</b> (copy it now, it will not be shown again):</p>
              <pre class="mono" id="new-token">${created.token}</pre>
            </div>`
          : ''
      }
      <form method="post" action="/tokens" class="inline-form">
        ${csrfField(f.csrf)}
        <label
          >Expires
          <select name="expires">
            ${TOKEN_LIFETIMES.map(([v, label]) => html`<option value="${v}" ${v === '30d' ? html` selected` : ''}>${label}</option>`)}
          </select></label
        >
        <button type="submit">Create token</button>
      </form>
      ${
        tokens.length === 0
          ? html`<p class="empty">You have no API tokens.</p>`
          : html`<table class="list">
              <thead>
                <tr>
                  <th>Token</th>
                  <th>Created (UTC)</th>
                  <th>Expires (UTC)</th>
                  <th></th>
                </tr>
              </thead>
              <tbody>
                ${tokens.map(
                  (t) =>
                    html`<tr>
                      <td class="mono" title="hash ${t.id}">${t.id.slice(0, 12)}…</td>
                      <td>${time(t.createdAt)}</td>
                      <td>${t.expiresAt === null ? 'never' : time(t.expiresAt)}</td>
                      <td>
                        <form method="post" action="/tokens/${t.id}/revoke" class="inline">
                          ${csrfField(f.csrf)}<button type="submit" class="danger small">Revoke</button>
                        </form>
                      </td>
                    </tr>`,
                )}
              </tbody>
            </table>`
      }`,
  );
}

export function loginPage(f: PageFrame, next: string, error: string | null, name = ''): SafeHtml {
  return page(
    { ...f, title: 'Log in' },
    html`<section class="login">
      <h1>Log in to Treadmill</h1>
      ${error ? html`<p class="alert" role="alert">${error}</p>` : ''}
      <form method="post" action="/login">
        ${csrfField(f.csrf)}
        <input type="hidden" name="next" value="${next}" />
        <label>User <input name="user" autocomplete="username" required autofocus value="${name}" /></label>
        <label>Password <input name="password" type="password" autocomplete="current-password" required /></label>
        <button type="submit">Log in</button>
      </form>
    </section>`,
  );
}
