// Console lines as the page's HTML. The job page's script builds the same markup from WireLines
// with DOM calls (client/console.ts), so lines added live look like the server-rendered ones.

import { formatClock, formatDateTime, formatOffset } from './format.js';
import { html, type SafeHtml } from './html.js';
import type { WireLine } from './wire.js';

/** The href of a line's anchor: the job page opened around that line, scrolled to it. */
export function lineHref(jobId: string, id: number): string {
  return `/jobs/${encodeURIComponent(jobId)}?at=${id}#L${id}`;
}

export function lineHtml(jobId: string, line: WireLine, jobStart: number | null): SafeHtml {
  // prettier-ignore
  const time = line.t === null
    ? html`<span class="ts"></span>`
    : html`<span class="ts" title="${formatDateTime(line.t)}"><span class="ta">${formatClock(line.t)}</span><span class="tr">${jobStart === null ? '' : formatOffset(line.t - jobStart)}</span></span>`;
  const text = line.runs.map(([cls, t]) => (cls === '' ? html`${t}` : html`<span class="${cls}">${t}</span>`));
  // prettier-ignore
  return html`<div class="ln${line.partial ? ' partial' : ''}" id="L${line.id}" data-end="${line.end}"><a class="la" href="${lineHref(jobId, line.id)}" aria-label="link to this line"></a>${time}<span class="lc">${text}</span></div>`;
}
