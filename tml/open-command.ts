// `tml job open ID`: the job's page on the web console. The URL always goes to stdout; a browser
// is started only for a person at a terminal (stdout a TTY, no --json) where an opener exists.

import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { context, note, out, uuidArg, type Args } from './context.js';
import { json } from './format.js';
import type { Env } from './paths.js';

/** The web console's page of a job, under the switchboard's URL (which may have a path). */
export function jobPageUrl(switchboard: string, jobId: string): string {
  return `${switchboard.replace(/\/+$/, '')}/jobs/${encodeURIComponent(jobId)}`;
}

/** The program that opens a URL in the user's browser on this system, if it is on PATH. */
export function opener(env: Env, platform: NodeJS.Platform = process.platform): string | null {
  const name = platform === 'darwin' ? 'open' : 'xdg-open';
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return null;
}

/** Starts `program URL` on its own, so tml exits at once; true if it could be started. */
export function startOpener(program: string, url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const child = spawn(program, [url], { detached: true, stdio: 'ignore' });
    child.once('error', () => resolve(false));
    child.once('spawn', () => {
      child.unref();
      resolve(true);
    });
  });
}

export async function open(argv: Args): Promise<void> {
  const id = uuidArg(argv.id, 'job');
  const ctx = await context(argv);
  const url = jobPageUrl(ctx.settings.url, id);
  if (ctx.json) {
    out(json({ job_id: id, url }));
    return;
  }
  out(`${url}\n`);
  if (process.stdout.isTTY !== true) return;
  const program = opener(ctx.env);
  if (program === null) return;
  if (!(await startOpener(program, url))) note(`tml: could not start ${program}; open the URL above yourself`);
}
