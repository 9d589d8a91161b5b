// /device: where a user enters the code `tml login --device` showed, sees which client asked and
// from where, and approves or denies it.

import type { DeviceRequestView } from '../../device-flow.js';
import { html, type SafeHtml } from '../html.js';
import { time } from './common.js';
import { csrfField, page, type PageFrame } from './layout.js';

export function deviceCodeForm(f: PageFrame, error: string | null, typed = ''): SafeHtml {
  return page(
    { ...f, title: 'Device login' },
    html`<section class="login">
      <h1>Log in a device</h1>
      <p>Enter the code your terminal shows (<code>tml login --device</code>).</p>
      ${error ? html`<p class="alert" role="alert">${error}</p>` : ''}
      <form method="get" action="/device">
        <label
          >Code <input name="code" required autofocus autocomplete="off" placeholder="BCDF-GHJK" value="${typed}"
        /></label>
        <button type="submit">Continue</button>
      </form>
    </section>`,
  );
}

export function deviceConfirmPage(f: PageFrame, r: DeviceRequestView): SafeHtml {
  const form = (action: string, label: string) =>
    html`<form method="post" action="/device/${action}" class="inline">
      ${csrfField(f.csrf)}<input type="hidden" name="code" value="${r.userCode}" /><button type="submit">
        ${label}
      </button>
    </form>`;
  return page(
    { ...f, title: 'Device login' },
    html`<section class="login">
      <h1>Log in a device as ${f.user?.name ?? ''}?</h1>
      <p>A client asks for an API token of yours. Approve only if you started this yourself and the code matches.</p>
      <dl class="facts">
        <dt>Code</dt>
        <dd class="mono">${r.userCode}</dd>
        <dt>Client</dt>
        <dd>${r.clientId}</dd>
        <dt>Asked from</dt>
        <dd class="mono">${r.address}</dd>
        <dt>Asked at (UTC)</dt>
        <dd>${time(r.createdAt)}</dd>
        <dt>Code expires (UTC)</dt>
        <dd>${time(r.expiresAt)}</dd>
      </dl>
      ${form('approve', 'Approve')} ${form('deny', 'Deny')}
    </section>`,
  );
}

export function deviceDonePage(f: PageFrame, approved: boolean): SafeHtml {
  return page(
    { ...f, title: 'Device login' },
    html`<section class="login">
      <h1>${approved ? 'Device approved' : 'Device denied'}</h1>
      <p>
        ${
          approved
            ? 'Go back to your terminal: it receives its token within a few seconds. The token is listed under API tokens, where you can revoke it.'
            : 'The client is told that the login was denied.'
        }
      </p>
    </section>`,
  );
}
