// `tml login` (with a password, or `--device` through the web console), `tml logout`, `tml whoami`:
// the saved token, as upstream's `tml` 0.3 keeps it.

import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';

import { ExitWith, UsageError } from '../protocol/cli.js';
import { bool, context, note, out, str, type Args, type Ctx } from './context.js';
import { DEVICE_PAGE_PATH } from '../protocol/device-flow.js';
import { deviceLogin } from './device-login.js';
import { ApiError, BadAnswerError } from './errors.js';
import { json } from './format.js';
import { readFirstLine, readLine, readSecret } from './prompt.js';
import {
  readSession,
  removeLogin,
  tokenFingerprint,
  tokenProblem,
  writeSession,
  writeTokenFile,
} from './token-store.js';
import { version } from './version.js';

const isTty = () => process.stdin.isTTY === true;

/** The user: the argument, else TML_USER, else asked on the terminal. */
async function userOf(argv: Args, ctx: Ctx): Promise<string> {
  const given = str(argv, 'user') ?? ctx.env.TML_USER;
  if (given !== undefined && given !== '') return given;
  if (!isTty()) throw new UsageError('no user: give it as tml login USER or set TML_USER');
  const user = await readLine('User name or e-mail: ');
  if (user === '') throw new UsageError('no user given');
  return user;
}

/** The password: the argument, else --password-stdin, else TML_PASSWORD, else asked without echo. */
async function passwordOf(argv: Args, ctx: Ctx): Promise<string> {
  const given = str(argv, 'password');
  if (bool(argv, 'password-stdin')) {
    if (given !== undefined)
      throw new UsageError('give the password as an argument or with --password-stdin, not both');
    return readFirstLine(process.stdin, '--password-stdin');
  }
  if (given !== undefined) return given;
  if (ctx.env.TML_PASSWORD !== undefined) return ctx.env.TML_PASSWORD;
  if (!isTty()) {
    throw new UsageError('no password: give it as an argument, set TML_PASSWORD or pipe it to --password-stdin');
  }
  return readSecret('Password: ', process.stdin as unknown as Parameters<typeof readSecret>[1], process.stderr);
}

/** `tml login --device`: a token approved on the web console, no password typed here. */
async function loginWithDevice(ctx: Ctx): Promise<{ user: string; token: string; expires_at: string }> {
  const client = ctx.anonymous();
  const answer = await deviceLogin({
    url: ctx.settings.url,
    clientId: `tml ${version()} on ${hostname().slice(0, 60)}`,
    post: (path, body) => client.postForAnswer(path, body),
    sleep: (ms) => sleep(ms),
    now: Date.now,
    show: (code) => {
      const minutes = Math.max(1, Math.round(code.expires_in / 60));
      note(`To log in, open this page where you are logged in to the web console:`);
      // Under the URL tml uses, which the user can reach; the switchboard's own guess from its Host
      // header says http: behind a proxy that terminates TLS.
      const page = `${ctx.settings.url.replace(/\/+$/, '')}${DEVICE_PAGE_PATH}?code=${encodeURIComponent(code.user_code)}`;
      note(`  ${page}`);
      note(`and check that it shows the code ${code.user_code} (valid for ${minutes} minutes). Waiting...`);
    },
  });
  return { user: answer.user, token: answer.access_token, expires_at: answer.expires_at };
}

async function loginWithPassword(argv: Args, ctx: Ctx): Promise<{ user: string; token: string; expires_at: string }> {
  const user = await userOf(argv, ctx);
  const password = await passwordOf(argv, ctx);
  try {
    return { user, ...(await ctx.anonymous().login(user, password)) };
  } catch (err) {
    if (err instanceof ApiError && (err.status === 403 || err.type === 'unauthorized')) {
      throw new Error(`login failed: wrong user or password for ${ctx.settings.url}`);
    }
    throw err;
  }
}

export async function login(argv: Args): Promise<void> {
  const device = bool(argv, 'device');
  if (
    device &&
    (str(argv, 'user') !== undefined || str(argv, 'password') !== undefined || bool(argv, 'password-stdin'))
  )
    throw new UsageError('--device takes no user or password: the web console knows who approves');
  const ctx = await context(argv);
  const answer = device ? await loginWithDevice(ctx) : await loginWithPassword(argv, ctx);
  const user = answer.user;
  const problem = tokenProblem(answer.token);
  if (problem) throw new BadAnswerError(`the token from ${ctx.settings.url} ${problem}`);
  writeTokenFile(ctx.settings.tokenFile, answer.token);
  writeSession(ctx.settings.sessionFile, {
    user,
    switchboard: ctx.settings.url,
    expires_at: answer.expires_at,
    token_sha256: tokenFingerprint(answer.token),
  });
  if (ctx.env.TML_API_TOKEN) note('tml: TML_API_TOKEN is set: it is used instead of the saved token');
  if (ctx.json) {
    out(
      json({ user, switchboard: ctx.settings.url, expires_at: answer.expires_at, token_file: ctx.settings.tokenFile }),
    );
  } else {
    out(`logged in to ${ctx.settings.url} as ${user}; the token expires at ${answer.expires_at}\n`);
    note(`tml: token saved in ${ctx.settings.tokenFile}`);
  }
}

export async function logout(argv: Args): Promise<void> {
  const ctx = await context(argv);
  const removed = removeLogin(ctx.settings.tokenFile, ctx.settings.sessionFile);
  if (ctx.json) out(json({ removed, token_file: ctx.settings.tokenFile }));
  else if (removed) {
    out(`logged out: removed ${ctx.settings.tokenFile}\n`);
    note('tml: the token stays valid on the switchboard until it expires (an admin can revoke it)');
  } else out(`not logged in (no ${ctx.settings.tokenFile})\n`);
  if (ctx.env.TML_API_TOKEN) note('tml: TML_API_TOKEN is still set and still used');
}

export async function whoami(argv: Args): Promise<number> {
  const ctx = await context(argv);
  const s = ctx.settings;
  const info: Record<string, string | boolean | null> = {
    switchboard: s.url,
    switchboard_from: s.urlSource,
    profile: s.profile,
    user: null,
    token_from: null,
    expires_at: null,
    token_accepted: null,
  };
  let exit = 0;
  let choice = null;
  try {
    choice = ctx.token();
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    info.token_from = null;
    exit = 1;
    note(`tml: ${err.message}`);
  }
  if (choice) {
    info.token_from = choice.source;
    const session = choice.source === s.tokenFile ? readSession(s.sessionFile) : null;
    if (session && session.token_sha256 === tokenFingerprint(choice.token)) {
      info.user = session.user;
      info.expires_at = session.expires_at;
    }
    try {
      await ctx.client().listPage({ limit: 1 });
      info.token_accepted = true;
    } catch (err) {
      if (!(err instanceof ApiError) || err.status !== 401) throw err;
      info.token_accepted = false;
      exit = 1;
    }
  }
  if (ctx.json) out(json(info));
  else {
    const rows: Array<[string, string | null]> = [
      ['switchboard', `${s.url} (from ${s.urlSource})`],
      ['profile', s.profile],
      ['user', info.user as string | null],
      ['token', (info.token_from as string | null) ?? 'none'],
      ['expires', info.expires_at as string | null],
      [
        'accepted',
        info.token_accepted === null ? null : info.token_accepted ? 'yes' : 'no (expired or revoked: tml login)',
      ],
    ];
    out(
      rows
        .filter(([, v]) => v !== null)
        .map(([k, v]) => `${k.padEnd(13)}${v}\n`)
        .join(''),
    );
  }
  if (exit !== 0) throw new ExitWith(exit);
  return 0;
}
