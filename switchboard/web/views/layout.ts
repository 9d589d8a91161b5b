// The frame every page shares: head with the stylesheets and the one script, the top bar with
// navigation and the logout form.

import type { WebUser } from '../data.js';
import { html, type Interpolation, type SafeHtml } from '../html.js';

export interface Assets {
  /** Cache-busting versions of the static files. */
  style: string;
  ansi: string;
  script: string;
}

export interface PageFrame {
  title: string;
  user: WebUser | null;
  /** CSRF token for the logout form (and any other form on the page). */
  csrf: string | null;
  nav?: 'jobs' | 'supervisors' | 'tokens';
  assets: Assets;
}

export function page(f: PageFrame, body: Interpolation): SafeHtml {
  const link = (key: NonNullable<PageFrame['nav']>, href: string, label: string) =>
    html`<a href="${href}" ${f.nav === key ? html` aria-current="page"` : ''}>${label}</a>`;
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>${f.title} · Treadmill</title>
        <link rel="stylesheet" href="/static/style.css?v=${f.assets.style}" />
        <link rel="stylesheet" href="/static/ansi.css?v=${f.assets.ansi}" />
        <script src="/static/console.js?v=${f.assets.script}" defer></script>
      </head>
      <body>
        <header class="top">
          <a class="brand" href="/jobs">Treadmill</a>
          ${
            f.user
              ? html`<nav>
                    ${link('jobs', '/jobs', 'Jobs')}${link('supervisors', '/supervisors', 'Supervisors')}${link('tokens', '/tokens', 'API tokens')}
                  </nav>
                  <div class="who">
                    <span class="user">${f.user.name}</span
                    >${f.user.isAdmin ? html` <span class="badge admin">admin</span>` : ''}
                    <form method="post" action="/logout" class="inline">
                      ${csrfField(f.csrf)}<button type="submit" class="link">Log out</button>
                    </form>
                  </div>`
              : ''
          }
        </header>
        <main>${body}</main>
      </body>
    </html> `;
}

export function csrfField(token: string | null): SafeHtml {
  return token === null ? html`` : html`<input type="hidden" name="_csrf" value="${token}" />`;
}

/** A page for an error answer (400, 403, 404, 429, 500). */
export function errorPage(f: PageFrame, status: number, message: string): SafeHtml {
  const heading: Record<number, string> = {
    400: 'Bad request',
    401: 'Not logged in',
    403: 'Not allowed',
    404: 'Not found',
    409: 'Conflict',
    413: 'Too large',
    429: 'Too many attempts',
  };
  return page(
    { ...f, title: heading[status] ?? 'Error' },
    html`<section class="error">
      <h1>${heading[status] ?? 'Something went wrong'}</h1>
      <p>${message}</p>
      <p><a href="/jobs">Back to the jobs</a></p>
    </section>`,
  );
}
