#!/usr/bin/env node
// tml-switchboard: `serve` and the admin commands that work on the same database.

import { readFileSync } from 'node:fs';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { hashPassword, newToken, tokenHash } from './auth.js';
import { SqliteStore } from './sqlite-store.js';
import { parseDuration } from '../protocol/duration.js';
import { DEFAULT_KEEPALIVE, canonicalSupervisorToken } from '../protocol/switchboard-ws.js';
import { isUuid } from '../protocol/validation.js';
import { LOG_LEVELS, createLogger, type LogLevel } from './logger.js';
import { parseTags } from './matcher.js';

class UsageError extends Error {}

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

async function withDb<T>(path: string | undefined, fn: (db: SqliteStore) => T): Promise<T> {
  const db = new SqliteStore(dbPath(path));
  try {
    return fn(db);
  } finally {
    await db.close();
  }
}

async function serve(argv: {
  listen: string;
  db?: string;
  queueTimeout?: string;
  jobTimeout?: string;
  gracePeriod?: string;
  pingInterval?: string;
  keepalive?: string;
  maxQueuedJobs?: string;
  maxQueuedBytes?: string;
  logLevel: string;
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
  const log = createLogger(argv.logLevel as LogLevel);
  const sb = new Switchboard({
    dbPath: dbPath(argv.db),
    log,
    queueTimeoutMs: duration(argv.queueTimeout, DEFAULTS.queueTimeoutMs, 'queue-timeout'),
    jobTimeoutMs: duration(argv.jobTimeout, DEFAULTS.jobTimeoutMs, 'job-timeout'),
    gracePeriodMs: duration(argv.gracePeriod, DEFAULTS.gracePeriodMs, 'grace-period'),
    maxQueuedJobsPerUser: count(argv.maxQueuedJobs, DEFAULTS.maxQueuedJobsPerUser, 'max-queued-jobs'),
    maxQueuedBytesPerUser: size(argv.maxQueuedBytes, DEFAULTS.maxQueuedBytesPerUser, 'max-queued-bytes'),
    pingIntervalMs,
    keepaliveMs,
    web: argv.web,
  });
  let url: string;
  try {
    url = await sb.listen(host, port);
  } catch (err) {
    await sb.close().catch(() => {});
    throw new Error(`cannot listen on ${argv.listen}: ${(err as Error).message}`);
  }
  process.stdout.write(`listening on ${url}\n`);
  log.info(`switchboard listening on ${url}, database ${dbPath(argv.db)}`);
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

async function main(): Promise<void> {
  await yargs(hideBin(process.argv))
    .scriptName('tml-switchboard')
    .usage('$0 <command>\n\nThe Treadmill switchboard: queues jobs and runs them on supervisors.')
    .option('db', { type: 'string', describe: 'SQLite database file (default $TML_SWITCHBOARD_DB)', global: true })
    .command(
      'serve',
      'Serve the REST API, the supervisor WebSocket and the web console',
      (y) =>
        y
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
          .option('max-queued-jobs', {
            type: 'string',
            describe: 'most jobs one user may have queued at once (default 1000)',
          })
          .option('max-queued-bytes', {
            type: 'string',
            describe: 'most bytes of job requests one user may have queued at once, e.g. 64M (default 64M)',
          })
          .option('log-level', { choices: LOG_LEVELS, default: 'info' as const })
          .option('web', {
            type: 'boolean',
            default: true,
            describe: 'serve the web console too (--no-web: API only)',
          }),
      (argv) => serve(argv as Parameters<typeof serve>[0]),
    )
    .command('user <action>', 'Manage users', (y) =>
      y
        .command(
          'add <name>',
          'Add a user (no password unless --password-stdin; use `token create` for API tokens)',
          (yy) =>
            yy
              .positional('name', { type: 'string', demandOption: true })
              .option('admin', { type: 'boolean', default: false, describe: 'may see and cancel every job' })
              .option('email', { type: 'string', describe: 'e-mail address; logging in takes it instead of the name' })
              .option('password-stdin', { type: 'boolean', default: false, describe: 'read the password from stdin' }),
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
            process.stderr.write(
              `added ${argv.admin ? 'admin ' : ''}user ${name}${email ? ` <${email}>` : ''} (${row.id})\n`,
            );
          },
        )
        .demandCommand(1, 'give a subcommand: add'),
    )
    .command('token <action>', 'Manage API tokens', (y) =>
      y
        .command(
          'create',
          'Create an API token for a user and print it (shown only once)',
          (yy) =>
            yy
              .option('user', { type: 'string', demandOption: true })
              .option('expires', { type: 'string', default: '30d', describe: 'lifetime, e.g. 12h, 30d, or "never"' }),
          async (argv) => {
            const lifetime = argv.expires === 'never' ? null : duration(argv.expires, 0, 'expires');
            if (lifetime === 0) throw new UsageError('--expires: a token must live longer than 0 (or "never")');
            const expiresAt = lifetime === null ? null : Date.now() + lifetime;
            const token = await withDb(argv.db, (db) => {
              const user = db.userByName(argv.user);
              if (!user) throw new Error(`no user named "${argv.user}"`);
              const t = newToken();
              db.addToken(t.hash, user.id, expiresAt);
              return t.token;
            });
            process.stdout.write(`${token}\n`);
          },
        )
        .demandCommand(1, 'give a subcommand: create'),
    )
    .command('supervisor <action>', 'Manage supervisors', (y) =>
      y
        .command(
          'add <name>',
          'Register a supervisor; print its id, and the token when it is generated (shown only once)',
          (yy) =>
            yy
              .positional('name', { type: 'string', demandOption: true })
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
              .option('json', { type: 'boolean', default: false }),
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
          (yy) => yy.option('json', { type: 'boolean', default: false }),
          async (argv) => {
            const rows = await withDb(argv.db, (db) => db.supervisors());
            const list = rows.map((r) => ({
              id: r.id,
              name: r.name,
              tags: parseTags(r.tags),
              created_at: new Date(r.created_at).toISOString(),
            }));
            if (argv.json) process.stdout.write(`${JSON.stringify(list)}\n`);
            else for (const s of list) process.stdout.write(`${s.id}  ${s.name}  ${s.tags.join(';')}\n`);
          },
        )
        .demandCommand(1, 'give a subcommand: add or list'),
    )
    .demandCommand(1, 'give a command: serve, user, token or supervisor')
    .strict()
    .help()
    .fail((msg, err) => {
      if (err) throw err;
      fail(msg, 2);
    })
    .parseAsync();
}

main().catch((err: Error) => fail(err.message, err instanceof UsageError ? 2 : 1));
