// Console lines as the page's HTML. The job page's script builds the same markup from WireLines
// with DOM calls (client/console.ts), so lines added live look like the server-rendered ones.

import { formatClock, formatOffset } from './format.js';
import { html, type SafeHtml } from './html.js';
import type { WireLine } from './wire.js';

/**
 * A line's anchor: the job page opened around that line, scrolled to it. Relative to the job
 * page, which keeps a page of thousands of lines small.
 */
export function lineHref(id: number): string {
  return `?at=${id}#L${id}`;
}

export function lineHtml(line: WireLine, jobStart: number | null): SafeHtml {
  // prettier-ignore
  const time = line.t === null
    ? html`<span class="ts"></span>`
    : html`<span class="ts"><span class="ta">${formatClock(line.t)}</span><span class="tr">${jobStart === null ? '' : formatOffset(line.t - jobStart)}</span></span>`;
  const text = line.runs.map(([cls, t]) => (cls === '' ? html`${t}` : html`<span class="${cls}">${t}</span>`));
  // prettier-ignore
  return html`<div class="ln${line.partial ? ' partial' : ''}" id="L${line.id}"><a class="la" href="${lineHref(line.id)}"></a>${time}<span class="lc">${text}</span></div>`;
}
