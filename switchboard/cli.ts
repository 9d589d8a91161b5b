#!/usr/bin/env node
// tml-switchboard: `serve` and the admin commands that work on the same database.

import { readFileSync } from 'node:fs';
import yargs, { type Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { hashPassword, newToken, tokenHash } from './auth.js';
import { DEFAULT_DEVICE_FLOW } from './device-flow.js';
import type { SupervisorRow, SwitchboardStore, TokenInfo, UserRow } from './store.js';
import {
  completionArgs,
  completionFromHelp,
  type Exits,
  exitsText,
  manualPath,
  teach,
  USAGE_EXIT,
} from '../protocol/cli-help.js';
import { typingMistake, UsageError } from '../protocol/cli.js';
import { parseDuration } from '../protocol/duration.js';
import { DEFAULT_KEEPALIVE, canonicalSupervisorToken } from '../protocol/switchboard-ws.js';
import { isUuid } from '../protocol/validation.js';
import { LOG_FORMATS, LOG_LEVELS, createLogger, type LogFormat, type LogLevel } from '../protocol/log.js';
import { parseTags } from './matcher.js';

function fail(message: string, code: number): never {
  process.stderr.write(`tml-switchboard: ${message}\n`);
  process.exit(code);
}

function dbPath(db: string | undefined): string {
  const path = db ?? process.env.TML_SWITCHBOARD_DB;
  if (!path) throw new UsageError('no database: pass --db FILE or set TML_SWITCHBOARD_DB');
  return path;
}

function duration(text: string | undefined, fallback: number, flag: string): number {
  if (text === undefined) return fallback;
  try {
    return parseDuration(text);
  } catch (err) {
    throw new UsageError(`--${flag}: ${(err as Error).message}`);
  }
}

/** A count of bytes: an integer, optionally with a binary suffix (64M = 64 MiB). */
function size(text: string | undefined, fallback: number, flag: string): number {
  if (text === undefined) return fallback;
  const m = /^(\d{1,15})([KMG]i?B?)?$/i.exec(text.trim());
  if (!m) throw new UsageError(`--${flag}: "${text.slice(0, 32)}" is not a size (e.g. 1048576, 512K, 64M, 1G)`);
  const unit = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[(m[2] ?? '').charAt(0).toLowerCase()]!;
  return Number(m[1]) * unit;
}

function count(text: string | undefined, fallback: number, flag: string): number {
  if (text === undefined) return fallback;
  if (!/^\d{1,9}$/.test(text.trim()) || Number(text) < 1) {
    throw new UsageError(`--${flag}: "${text.slice(0, 32)}" is not a positive whole number`);
  }
  return Number(text);
}

function parseListen(text: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new UsageError(`--listen must be HOST:PORT (e.g. 127.0.0.1:8080), got "${text}"`);
  return { host: (m[1] ?? m[2])!, port };
}

/** A flag's value; yargs makes an array of a flag given twice. */
function single(value: unknown, flag: string): string | undefined {
  if (Array.isArray(value)) throw new UsageError(`--${flag} given more than once`);
  return value === undefined ? undefined : String(value);
}

/** A supervisor's tags: `;`-separated, blanks dropped, each free of whitespace and control characters. */
function parseSupervisorTags(text: string): string[] {
  const tags = [...new Set(parseTags(text))];
  for (const tag of tags) {
    if (tag.length > 255 || /[\s\p{Cc}]/u.test(tag)) {
      throw new UsageError(
        `--tags: ${JSON.stringify(tag.slice(0, 64))} is not a tag (at most 255 characters, no spaces or control characters)`,
      );
    }
  }
  return tags;
}

/** The token in a file as upstream supervisors keep it (`token_file`): base64 of 128 bytes. */
function readTokenFile(path: string): string {
  let text: string;
  try {
    text = readFileSync(path === '-' ? 0 : path, 'utf8');
  } catch (err) {
    throw new UsageError(
      `--token-file: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
  const token = canonicalSupervisorToken(text);
  if (token === null) {
    throw new UsageError(`--token-file: ${path} does not hold a supervisor token (standard base64 of 128 bytes)`);
  }
  return token;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function withDb<T>(path: string | undefined, fn: (db: SwitchboardStore) => Promise<T>): Promise<T> {
  // loaded here, so that --help starts without a database driver
  const { openStore } = await import('./open-store.js');
  const db = await openStore(dbPath(path));
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

const userJson = (u: UserRow) => ({
  id: u.id,
  name: u.name,
  email: u.email,
  admin: u.is_admin === 1,
  locked_at: iso(u.locked_at),
  created_at: iso(u.created_at)!,
});

const tokenJson = (tk: TokenInfo) => ({
  id: tk.token_hash.toString('hex'),
  user: tk.user_name,
  created_at: iso(tk.created_at)!,
  expires_at: iso(tk.expires_at),
});

const supervisorJson = (r: SupervisorRow) => ({
  id: r.id,
  name: r.name,
  tags: parseTags(r.tags),
  created_at: iso(r.created_at)!,
});

/** `value` as one line of JSON, or `text` as it is. */
function print(json: boolean, value: unknown, text: string): void {
  process.stdout.write(json ? `${JSON.stringify(value)}\n` : text);
}

/** Columns padded to their widest cell, a header row first. */
function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [header, ...rows]
    .map(
      (r) =>
        `${r
          .map((c, i) => c.padEnd(widths[i]!))
          .join('  ')
          .trimEnd()}\n`,
    )
    .join('');
}

async function userNamed(db: SwitchboardStore, name: string): Promise<UserRow> {
  const user = await db.userByName(name);
  if (!user) throw new Error(`no user named "${name.slice(0, 64)}"`);
  return user;
}

async function supervisorNamed(db: SwitchboardStore, nameOrId: string): Promise<SupervisorRow> {
  const s = (await db.supervisors()).find((r) => r.name === nameOrId || r.id === nameOrId.toLowerCase());
  if (!s) throw new Error(`no supervisor named or with id "${nameOrId.slice(0, 64)}"`);
  return s;
}

async function serve(argv: {
  listen: string;
  db?: string;
  queueTimeout?: string;
  jobTimeout?: string;
  gracePeriod?: string;
  pingInterval?: string;
  keepalive?: string;
  deviceCodeLifetime?: string;
  maxQueuedJobs?: string;
  maxQueuedBytes?: string;
  logLevel: string;
  logFormat: string;
  web: boolean;
}): Promise<void> {
  const { host, port } = parseListen(argv.listen);
  const pingIntervalMs = duration(argv.pingInterval, DEFAULT_KEEPALIVE.pingIntervalMs, 'ping-interval');
  const keepaliveMs = duration(argv.keepalive, DEFAULT_KEEPALIVE.keepaliveMs, 'keepalive');
  if (pingIntervalMs <= 0 || keepaliveMs <= pingIntervalMs) {
    throw new UsageError('--keepalive must be longer than --ping-interval, and both positive');
  }
  // Loaded here so the admin commands start without the HTTP stack.
  const { DEFAULTS, Switchboard } = await import('./server.js');
  const { redactedUrl } = await import('./open-store.js');
  const log = createLogger({ level: argv.logLevel as LogLevel, format: argv.logFormat as LogFormat });
  const sb = await Switchboard.open({
    db: dbPath(argv.db),
    log,
    queueTimeoutMs: duration(argv.queueTimeout, DEFAULTS.queueTimeoutMs, 'queue-timeout'),
    jobTimeoutMs: duration(argv.jobTimeout, DEFAULTS.jobTimeoutMs, 'job-timeout'),
    gracePeriodMs: duration(argv.gracePeriod, DEFAULTS.gracePeriodMs, 'grace-period'),
    maxQueuedJobsPerUser: count(argv.maxQueuedJobs, DEFAULTS.maxQueuedJobsPerUser, 'max-queued-jobs'),
    maxQueuedBytesPerUser: size(argv.maxQueuedBytes, DEFAULTS.maxQueuedBytesPerUser, 'max-queued-bytes'),
    pingIntervalMs,
    keepaliveMs,
    web: argv.web,
    deviceFlow: {
      lifetimeMs: duration(argv.deviceCodeLifetime, DEFAULT_DEVICE_FLOW.lifetimeMs, 'device-code-lifetime'),
    },
  });
  let url: string;
  try {
    url = await sb.listen(host, port);
  } catch (err) {
    await sb.close().catch(() => {});
    throw new Error(`cannot listen on ${argv.listen}: ${(err as Error).message}`);
  }
  process.stdout.write(`listening on ${url}\n`);
  log.info(`switchboard listening on ${url}, database ${redactedUrl(dbPath(argv.db))}`);
  let closing = false;
  const shutdown = (signal: string) => {
    if (closing) return;
    closing = true;
    log.info(`${signal}: shutting down`);
    sb.close().then(
      () => process.exit(0),
      (err: Error) => fail(`shutdown failed: ${err.message}`, 1),
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

const MANUAL = 'switchboard.md';
const JSON_OPTION = { type: 'boolean', default: false, describe: 'print the result as JSON on stdout' } as const;
const ADMIN_EXITS: Exits = [
  [0, 'done'],
  [1, 'failed: an unknown or duplicate user, token or supervisor, one still in use, an unusable database'],
  USAGE_EXIT,
];

/** Each command's examples, shown by its --help with the exit codes (and in docs/switchboard.md). */
const EXAMPLES: Record<string, Array<[string, string]>> = {
  root: [
    ['$0 serve --db sb.sqlite --listen 127.0.0.1:8080', 'the switchboard, its API and web console'],
    ['$0 --db sb.sqlite user add alice --password-stdin', 'a user who logs in with a password'],
  ],
  serve: [
    ['$0 serve --db sb.sqlite --listen 0.0.0.0:8080', ''],
    ['$0 serve --db sb.sqlite --listen 127.0.0.1:0 --no-web --job-timeout 2h', 'API only, a free port'],
  ],
  user: [['$0 --db sb.sqlite user list', '']],
  'user add': [
    ['echo "$PASSWORD" | $0 --db sb.sqlite user add alice --password-stdin', ''],
    ['$0 --db sb.sqlite user add root --admin', 'an admin without a password (give it a token)'],
  ],
  'user list': [['$0 --db sb.sqlite user list --json', '']],
  'user remove': [['$0 --db sb.sqlite user remove alice', '']],
  'user lock': [['$0 --db sb.sqlite user lock alice', '']],
  'user unlock': [['$0 --db sb.sqlite user unlock alice', '']],
  token: [['$0 --db sb.sqlite token list --user alice', '']],
  'token create': [['$0 --db sb.sqlite token create --user alice --expires 12h', 'prints the token, once']],
  'token list': [['$0 --db sb.sqlite token list --user alice --json', '']],
  'token revoke': [['$0 --db sb.sqlite token revoke 3f9a1c', 'by an id prefix']],
  supervisor: [['$0 --db sb.sqlite supervisor list', '']],
  'supervisor add': [
    ['$0 --db sb.sqlite supervisor add rpi-1 --tags "board:rpi4;site:lab"', 'prints its id and token, once'],
  ],
  'supervisor list': [['$0 --db sb.sqlite supervisor list --json', '']],
  'supervisor remove': [['$0 --db sb.sqlite supervisor remove rpi-1', '']],
  'supervisor retag': [['$0 --db sb.sqlite supervisor retag rpi-1 --tags "board:rpi5"', '']],
  'migrate-db': [
    ['$0 migrate-db --from sb.sqlite --to postgres://tml@db.example.org/treadmill', 'stop the old switchboard first'],
  ],
};

const SERVE_EXITS: Exits = [
  [0, 'stopped by SIGTERM or SIGINT, after closing connections'],
  [1, 'cannot listen, an unusable database, or the shutdown failed'],
  USAGE_EXIT,
];

const MIGRATE_EXITS: Exits = [
  [0, 'copied'],
  [1, 'not a switchboard database, a target that cannot be reached or is not empty, or the copy failed'],
  USAGE_EXIT,
];

const EXITS: Record<string, Exits> = { serve: SERVE_EXITS, 'migrate-db': MIGRATE_EXITS };

const taught = <T>(y: Argv<T>, name: string): Argv<T> =>
  teach(y, { examples: EXAMPLES[name]!, exits: EXITS[name] ?? ADMIN_EXITS, manual: MANUAL });

async function main(): Promise<void> {
  await parser(hideBin(process.argv)).parseAsync();
}

function parser(args: string[]): Argv {
  return yargs(args)
    .scriptName('tml-switchboard')
    .usage('$0 <command>\n\nThe Treadmill switchboard: queues jobs and runs them on supervisors.')
    .option('db', {
      type: 'string',
      describe: 'a SQLite database file, or postgres://USER@HOST/DB (default $TML_SWITCHBOARD_DB)',
      global: true,
    })
    .command(
      'serve',
      'Serve the REST API, the supervisor WebSocket and the web console',
      (y) =>
        taught(y, 'serve')
          .option('listen', { type: 'string', demandOption: true, describe: 'HOST:PORT (port 0 picks a free port)' })
          .option('queue-timeout', {
            type: 'string',
            describe: 'how long a job may wait for a supervisor (default 1h)',
          })
          .option('job-timeout', { type: 'string', describe: 'default time a dispatched job may run (default 1h)' })
          .option('grace-period', {
            type: 'string',
            describe: 'how long a disconnected supervisor keeps its job (default 1m)',
          })
          .option('ping-interval', {
            type: 'string',
            describe: 'how often supervisors are pinged (default 2s); sent to them in tml-socket-config',
          })
          .option('keepalive', {
            type: 'string',
            describe:
              'drop a supervisor whose pongs stop for this long (default 10s); supervisors reconnect after as long without a ping',
          })
          .option('device-code-lifetime', {
            type: 'string',
            describe: 'how long a tml login --device code waits for approval (default 10m)',
          })
          .option('max-queued-jobs', {
            type: 'string',
            describe: 'most jobs one user may have queued at once (default 1000)',
          })
          .option('max-queued-bytes', {
            type: 'string',
            describe: 'most bytes of job requests one user may have queued at once, e.g. 64M (default 64M)',
          })
          .option('log-level', {
            choices: LOG_LEVELS,
            default: 'info' as const,
            describe: 'least severe level logged (stderr)',
          })
          .option('log-format', {
            choices: LOG_FORMATS,
            default: 'text' as const,
            describe: 'text lines, or json (one object per line) for log collectors',
          })
          .option('web', {
            type: 'boolean',
            default: true,
            describe: 'serve the web console too (--no-web: API only)',
          }),
      (argv) => serve(argv as Parameters<typeof serve>[0]),
    )
    .command('user <action>', 'Manage users', (y) =>
      taught(y, 'user')
        .command(
          'add <name>',
          'Add a user (no password unless --password-stdin; use `token create` for API tokens)',
          (yy) =>
            taught(yy, 'user add')
              .positional('name', { type: 'string', demandOption: true, describe: 'the user name' })
              .option('admin', { type: 'boolean', default: false, describe: 'may see and cancel every job' })
              .option('email', { type: 'string', describe: 'e-mail address; logging in takes it instead of the name' })
              .option('password-stdin', { type: 'boolean', default: false, describe: 'read the password from stdin' })
              .option('json', { type: 'boolean', default: false, describe: 'print the user as JSON on stdout' }),
          async (argv) => {
            const name = String(argv.name);
            if (!/^[A-Za-z0-9_.@-]{1,64}$/.test(name)) throw new UsageError('user name: 1-64 letters, digits, _ . @ -');
            const email = argv.email ?? null;
            if (email !== null && (email.length > 254 || !/^[^@\s]+@[^@\s]+$/.test(email))) {
              throw new UsageError(`--email: "${email.slice(0, 64)}" is not an e-mail address`);
            }
            let hash: string | null = null;
            if (argv['password-stdin']) {
              const pw = (await readStdin()).replace(/\r?\n$/, '');
              if (pw === '') throw new UsageError('empty password on stdin');
              hash = hashPassword(pw);
            }
            const row = await withDb(argv.db, (db) => db.addUser(name, hash, argv.admin, email));
            if (argv.json) print(true, userJson(row), '');
            else {
              process.stderr.write(
                `added ${argv.admin ? 'admin ' : ''}user ${name}${email ? ` <${email}>` : ''} (${row.id})\n`,
              );
            }
          },
        )
        .command(
          'list',
          'List users',
          (yy) => taught(yy, 'user list').option('json', JSON_OPTION),
          async (argv) => {
            const users = (await withDb(argv.db, (db) => db.users())).map(userJson);
            print(
              argv.json,
              users,
              table(
                ['NAME', 'ADMIN', 'LOCKED', 'EMAIL', 'ID'],
                users.map((u) => [u.name, u.admin ? 'yes' : 'no', u.locked_at ? 'yes' : 'no', u.email ?? '-', u.id]),
              ),
            );
          },
        )
        .command(
          'remove <name>',
          'Remove a user who owns no job (their tokens and sessions go too); lock one who does',
          (yy) =>
            taught(yy, 'user remove')
              .positional('name', { type: 'string', demandOption: true, describe: 'the user name' })
              .option('json', JSON_OPTION),
          async (argv) => {
            const user = await withDb(argv.db, async (db) => {
              const u = await userNamed(db, String(argv.name));
              const r = await db.removeUser(u.id);
              if (r === 'has_jobs') {
                throw new Error(
                  `user ${u.name} owns jobs, which keep their owner: lock the user instead (user lock ${u.name})`,
                );
              }
              return u;
            });
            print(argv.json, userJson(user), `removed user ${user.name} (${user.id})\n`);
          },
        )
        .command(
          'lock <name>',
          'Lock a user out: no login, no API token or web session works until unlocked; their jobs stay',
          (yy) =>
            taught(yy, 'user lock')
              .positional('name', { type: 'string', demandOption: true, describe: 'the user name' })
              .option('json', JSON_OPTION),
          async (argv) => {
            const user = await withDb(argv.db, async (db) => {
              const u = await userNamed(db, String(argv.name));
              if (u.locked_at === null) await db.setUserLocked(u.id, Date.now());
              return (await db.userById(u.id))!;
            });
            print(argv.json, userJson(user), `locked user ${user.name}\n`);
          },
        )
        .command(
          'unlock <name>',
          'Let a locked user in again',
          (yy) =>
            taught(yy, 'user unlock')
              .positional('name', { type: 'string', demandOption: true, describe: 'the user name' })
              .option('json', JSON_OPTION),
          async (argv) => {
            const user = await withDb(argv.db, async (db) => {
              const u = await userNamed(db, String(argv.name));
              await db.setUserLocked(u.id, null);
              return (await db.userById(u.id))!;
            });
            print(argv.json, userJson(user), `unlocked user ${user.name}\n`);
          },
        )
        .demandCommand(1, 'give a subcommand: add, list, remove, lock or unlock'),
    )
    .command('token <action>', 'Manage API tokens', (y) =>
      taught(y, 'token')
        .command(
          'create',
          'Create an API token for a user and print it (shown only once)',
          (yy) =>
            taught(yy, 'token create')
              .option('user', { type: 'string', demandOption: true, describe: 'the user the token is for' })
              .option('expires', { type: 'string', default: '30d', describe: 'lifetime, e.g. 12h, 30d, or "never"' })
              .option('json', {
                type: 'boolean',
                default: false,
                describe: 'print {"token", "id", "user", "expires_at"} instead of the token alone',
              }),
          async (argv) => {
            const lifetime = argv.expires === 'never' ? null : duration(argv.expires, 0, 'expires');
            if (lifetime === 0) throw new UsageError('--expires: a token must live longer than 0 (or "never")');
            const expiresAt = lifetime === null ? null : Date.now() + lifetime;
            const t = await withDb(argv.db, async (db) => {
              const user = await userNamed(db, argv.user);
              const made = newToken();
              await db.addToken(made.hash, user.id, expiresAt);
              return made;
            });
            const shown = {
              token: t.token,
              id: t.hash.toString('hex'),
              user: argv.user,
              expires_at: expiresAt === null ? null : new Date(expiresAt).toISOString(),
            };
            print(argv.json, shown, `${t.token}\n`);
          },
        )
        .command(
          'list',
          'List API tokens (their ids, never the tokens)',
          (yy) =>
            taught(yy, 'token list')
              .option('user', { type: 'string', describe: "only this user's tokens" })
              .option('json', JSON_OPTION),
          async (argv) => {
            let tokens = (await withDb(argv.db, (db) => db.tokens())).map(tokenJson);
            if (argv.user !== undefined) tokens = tokens.filter((tk) => tk.user === argv.user);
            print(
              argv.json,
              tokens,
              table(
                ['ID', 'USER', 'CREATED', 'EXPIRES'],
                tokens.map((tk) => [tk.id.slice(0, 16), tk.user, tk.created_at, tk.expires_at ?? 'never']),
              ),
            );
          },
        )
        .command(
          'revoke <id>',
          'Revoke an API token by its id or an unambiguous prefix of it (at least 6 characters)',
          (yy) =>
            taught(yy, 'token revoke')
              .positional('id', {
                type: 'string',
                demandOption: true,
                describe: 'the token id, or a prefix of 6 or more characters',
              })
              .option('json', JSON_OPTION),
          async (argv) => {
            const prefix = String(argv.id).toLowerCase();
            if (!/^[0-9a-f]{6,64}$/.test(prefix)) {
              throw new UsageError(`token id: "${prefix.slice(0, 70)}" is not 6 to 64 hex digits (see token list)`);
            }
            const revoked = await withDb(argv.db, async (db) => {
              const matches = (await db.tokens()).filter((tk) => tk.token_hash.toString('hex').startsWith(prefix));
              if (matches.length === 0) throw new Error(`no API token with id ${prefix}`);
              if (matches.length > 1)
                throw new Error(`${matches.length} API tokens have ids starting ${prefix}: give more of it`);
              await db.removeToken(matches[0]!.token_hash);
              return tokenJson(matches[0]!);
            });
            print(argv.json, revoked, `revoked API token ${revoked.id.slice(0, 16)} of user ${revoked.user}\n`);
          },
        )
        .demandCommand(1, 'give a subcommand: create, list or revoke'),
    )
    .command('supervisor <action>', 'Manage supervisors', (y) =>
      taught(y, 'supervisor')
        .command(
          'add <name>',
          'Register a supervisor; print its id, and the token when it is generated (shown only once)',
          (yy) =>
            taught(yy, 'supervisor add')
              .positional('name', {
                type: 'string',
                demandOption: true,
                describe: 'its name: letters, digits and _.@:- (up to 64)',
              })
              .option('tags', {
                type: 'string',
                demandOption: true,
                describe: '";"-separated tags, e.g. "board:x;site:y"',
              })
              .option('id', {
                type: 'string',
                describe: "its existing UUID (an upstream supervisor's [base] supervisor_id)",
              })
              .option('token-file', {
                type: 'string',
                describe:
                  "a file holding its existing token (base64 of 128 bytes, as upstream's token_file); - for stdin",
              })
              .option('json', JSON_OPTION),
          async (argv) => {
            const name = String(argv.name);
            if (!/^[A-Za-z0-9_.@:-]{1,64}$/.test(name))
              throw new UsageError('supervisor name: 1-64 letters, digits, _ . @ : -');
            const tags = parseSupervisorTags(single(argv.tags, 'tags') ?? '');
            const id = single(argv.id, 'id')?.toLowerCase();
            if (id !== undefined && !isUuid(id)) throw new UsageError(`--id: ${JSON.stringify(argv.id)} is not a UUID`);
            const tokenFile = single(argv['token-file'], 'token-file');
            const given = tokenFile === undefined ? null : readTokenFile(tokenFile);
            const t = given === null ? newToken() : { token: given, hash: tokenHash(given) };
            const row = await withDb(argv.db, (db) => db.addSupervisor(name, tags.join(';'), t.hash, id));
            const shown = given === null ? { id: row.id, token: t.token } : { id: row.id };
            process.stdout.write(
              argv.json
                ? `${JSON.stringify(shown)}\n`
                : Object.entries(shown)
                    .map(([k, v]) => `${k}: ${v}\n`)
                    .join(''),
            );
          },
        )
        .command(
          'list',
          'List registered supervisors',
          (yy) => taught(yy, 'supervisor list').option('json', JSON_OPTION),
          async (argv) => {
            const rows = await withDb(argv.db, (db) => db.supervisors());
            const list = rows.map(supervisorJson);
            if (argv.json) process.stdout.write(`${JSON.stringify(list)}\n`);
            else for (const s of list) process.stdout.write(`${s.id}  ${s.name}  ${s.tags.join(';')}\n`);
          },
        )
        .command(
          'remove <supervisor>',
          'Remove a supervisor (by name or id) that runs no job; its next connection is refused',
          (yy) =>
            taught(yy, 'supervisor remove')
              .positional('supervisor', { type: 'string', demandOption: true, describe: 'its name or id' })
              .option('json', JSON_OPTION),
          async (argv) => {
            const row = await withDb(argv.db, async (db) => {
              const s = await supervisorNamed(db, String(argv.supervisor));
              if ((await db.removeSupervisor(s.id)) === 'has_active_jobs') {
                throw new Error(`supervisor ${s.name} has a job in progress: cancel it or wait for it to end`);
              }
              return s;
            });
            print(argv.json, supervisorJson(row), `removed supervisor ${row.name} (${row.id})\n`);
          },
        )
        .command(
          'retag <supervisor>',
          "Replace a supervisor's tags (by name or id); a serving switchboard uses them from its next connection",
          (yy) =>
            taught(yy, 'supervisor retag')
              .positional('supervisor', { type: 'string', demandOption: true, describe: 'its name or id' })
              .option('tags', {
                type: 'string',
                demandOption: true,
                describe: '";"-separated tags, e.g. "board:x;site:y"',
              })
              .option('json', JSON_OPTION),
          async (argv) => {
            const tags = parseSupervisorTags(single(argv.tags, 'tags') ?? '');
            const row = await withDb(argv.db, async (db) => {
              const s = await supervisorNamed(db, String(argv.supervisor));
              await db.setSupervisorTags(s.id, tags.join(';'));
              return (await db.supervisorById(s.id))!;
            });
            print(argv.json, supervisorJson(row), `supervisor ${row.name}: tags ${tags.join(';') || '(none)'}\n`);
          },
        )
        .demandCommand(1, 'give a subcommand: add, list, remove or retag'),
    )
    .command(
      'migrate-db',
      'Copy a SQLite switchboard database into an empty PostgreSQL database (stop the switchboard first)',
      (y) =>
        taught(y, 'migrate-db')
          .option('from', { type: 'string', demandOption: true, describe: 'the SQLite database file' })
          .option('to', { type: 'string', demandOption: true, describe: 'postgres://USER@HOST[:PORT]/DATABASE, empty' })
          .option('json', JSON_OPTION),
      async (argv) => {
        const from = single(argv.from, 'from')!;
        const to = single(argv.to, 'to')!;
        const { migrateDb } = await import('./migrate-db.js');
        const { isPostgresUrl, redactedUrl } = await import('./open-store.js');
        if (!isPostgresUrl(to))
          throw new UsageError(`--to: not a PostgreSQL URL (postgres://USER@HOST[:PORT]/DATABASE)`);
        const copied = await migrateDb(from, to);
        print(
          argv.json,
          { from, to: redactedUrl(to), copied },
          `copied ${from} to ${redactedUrl(to)}:\n${table(
            ['TABLE', 'ROWS'],
            Object.entries(copied).map(([t, n]) => [t, String(n)]),
          )}`,
        );
      },
    )
    .command(
      'completion [shell]',
      'Print a completion script for bash or zsh',
      (y) => completionArgs(y, 'tml-switchboard', MANUAL),
      async (argv) => {
        process.stdout.write(await completionFromHelp('tml-switchboard', argv.shell, parser));
      },
    )
    .demandCommand(1, 'give a command: serve, user, token, supervisor or migrate-db')
    .recommendCommands()
    .strict()
    .help()
    .example(EXAMPLES.root!)
    .epilogue(
      `${exitsText([[0, 'done (serve: stopped by SIGTERM or SIGINT)'], ...ADMIN_EXITS.slice(1)])}\n\nManual: ${manualPath(MANUAL)}`,
    )
    .fail((msg, err) => {
      if (err) throw err;
      fail(typingMistake(msg, args), 2);
    });
}

main().catch((err: Error) => fail(err.message, err instanceof UsageError ? 2 : 1));
