// tml login, logout, whoami and the configuration file, through the CLI a user types, against a
// fake switchboard, in a home of their own.

import test from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { FakeSwitchboard } from './fake-switchboard.js';
import { makeHome, runTml, type Home } from './spawn.js';
import { TML_CLI } from '../switchboard/process.js';

async function withLogin(fn: (sb: FakeSwitchboard, home: Home) => Promise<void>): Promise<void> {
  const sb = await FakeSwitchboard.start();
  sb.users.set('alice', 'pw-alice');
  const home = makeHome();
  try {
    await fn(sb, home);
  } finally {
    home.cleanup();
    await sb.close();
  }
}

const tokenOfFile = (home: Home) => JSON.parse(readFileSync(join(home.dataDir, 'token.json'), 'utf8')) as string;

test("tml login USER PASSWORD saves upstream's token.json, 0600, and later commands use it", (t) =>
  withLogin(async (sb, home) => {
    const r = await runTml(['-u', sb.url, 'login', 'alice', 'pw-alice'], home);
    t.is(r.status, 0, r.stderr);
    t.regex(
      r.stdout,
      /^logged in to http:\/\/127\.0\.0\.1:\d+ as alice; the token expires at 2025-11-07T12:00:00\.000Z\n$/,
    );
    const file = join(home.dataDir, 'token.json');
    const text = readFileSync(file, 'utf8');
    // serde_json of AuthToken: one JSON string, no newline.
    t.regex(text, /^"[A-Za-z0-9+/]{171}="$/);
    t.true(sb.tokens.has(JSON.parse(text) as string));
    t.is(statSync(file).mode & 0o777, 0o600);
    t.is(statSync(home.dataDir).mode & 0o777, 0o700);
    const list = await runTml(['-u', sb.url, 'job', 'list'], home);
    t.is(list.status, 0, list.stderr);
    t.is(sb.requests.at(-1)!.authorization, `Bearer ${JSON.parse(text) as string}`);
  }));

test('without XDG variables the token goes to ~/.local/share/treadmill-tb/token.json', async (t) => {
  const sb = await FakeSwitchboard.start();
  sb.users.set('alice', 'pw');
  const home = makeHome({ xdg: false });
  try {
    t.is((await runTml(['-u', sb.url, 'login', 'alice', 'pw'], home)).status, 0);
    t.true(existsSync(join(home.dir, '.local', 'share', 'treadmill-tb', 'token.json')));
  } finally {
    home.cleanup();
    await sb.close();
  }
});

test('tml login takes TML_USER and TML_PASSWORD, and --password-stdin over TML_PASSWORD', (t) =>
  withLogin(async (sb, home) => {
    const env = { TML_USER: 'alice', TML_PASSWORD: 'pw-alice' };
    t.is((await runTml(['-u', sb.url, 'login'], home, { env })).status, 0);
    const stdin = await runTml(['-u', sb.url, 'login', '--password-stdin'], home, {
      env: { TML_USER: 'alice', TML_PASSWORD: 'wrong' },
      input: 'pw-alice\nignored second line\n',
    });
    t.is(stdin.status, 0, stdin.stderr);
    const body = JSON.parse(sb.requests.at(-1)!.body) as Record<string, string>;
    t.deepEqual(body, { user_identifier: 'alice', password: 'pw-alice' });
  }));

test('tml login without a password and no terminal is a usage error saying how to give one', (t) =>
  withLogin(async (sb, home) => {
    const r = await runTml(['-u', sb.url, 'login', 'alice'], home);
    t.is(r.status, 2);
    t.is(r.stderr, 'tml: no password: give it as an argument, set TML_PASSWORD or pipe it to --password-stdin\n');
    t.is(sb.requests.length, 0);
  }));

test('a wrong password fails with one line and writes no token', (t) =>
  withLogin(async (sb, home) => {
    const r = await runTml(['-u', sb.url, 'login', 'alice', 'nope'], home);
    t.is(r.status, 1);
    t.is(r.stderr, `tml: login failed: wrong user or password for ${sb.url}\n`);
    t.false(existsSync(join(home.dataDir, 'token.json')));
  }));

const hasScript = spawnSync('script', ['--version']).status === 0;
const requireAll = process.env.TML_TEST_REQUIRE_ALL === '1';
if (!hasScript) {
  console.log('SKIPPING the terminal prompt test: script(1) not found (Debian: apt-get install bsdutils)');
}

(hasScript || requireAll ? test : test.skip)('tml login asks for the password on a terminal without echoing it', (t) =>
  withLogin(async (sb, home) => {
    if (!hasScript) return t.fail('script(1) not found (Debian: apt-get install bsdutils)');
    // script(1) gives tml a terminal; what we write is typed on it, once the prompt is there
    // (typed earlier, the terminal would echo it before tml turns echo off).
    const cmd = `${process.execPath} ${JSON.stringify(TML_CLI)} -u ${sb.url} login alice`;
    const child = spawn('script', ['-qec', cmd, '/dev/null'], { env: { ...process.env, ...home.env } });
    let output = '';
    child.stdout.on('data', (d: Buffer) => {
      output += d.toString();
      if (output.endsWith('Password: ')) child.stdin.write('pw-alice\r');
    });
    const status = await new Promise<number | null>((resolve) => child.once('close', resolve));
    t.is(status, 0, output);
    t.regex(output, /Password: /);
    t.false(output.includes('pw-alice'), output);
    t.true(sb.tokens.has(tokenOfFile(home)));
  }),
);

test('tml logout removes the token; then a command says how to log in', (t) =>
  withLogin(async (sb, home) => {
    await runTml(['-u', sb.url, 'login', 'alice', 'pw-alice'], home);
    const out = await runTml(['logout'], home);
    t.is(out.status, 0);
    t.regex(out.stdout, /^logged out: removed .*token\.json\n$/);
    t.false(existsSync(join(home.dataDir, 'token.json')));
    const list = await runTml(['-u', sb.url, 'job', 'list'], home);
    t.is(list.status, 2);
    t.regex(list.stderr, /^tml: no API token: set TML_API_TOKEN or run tml login \(no .*token\.json\)\n$/);
    t.regex((await runTml(['logout'], home)).stdout, /^not logged in/);
  }));

test('tml whoami names the user, the token file and whether the switchboard accepts it', (t) =>
  withLogin(async (sb, home) => {
    await runTml(['-u', sb.url, 'login', 'alice', 'pw-alice'], home);
    const r = await runTml(['-u', sb.url, 'whoami'], home);
    t.is(r.status, 0, r.stderr);
    t.regex(r.stdout, /^user {9}alice$/m);
    t.regex(r.stdout, /^token {8}.*\/treadmill-tb\/token\.json$/m);
    t.regex(r.stdout, /^accepted {5}yes$/m);
    sb.tokens.clear();
    const refused = await runTml(['-u', sb.url, 'whoami', '--json'], home);
    t.is(refused.status, 1);
    t.like(JSON.parse(refused.stdout), { user: 'alice', token_accepted: false, switchboard_from: '--api-url' });
  }));

test("a token in the token file that is not upstream's format is refused before any request", (t) =>
  withLogin(async (sb, home) => {
    mkdirSync(home.dataDir, { recursive: true });
    writeFileSync(join(home.dataDir, 'token.json'), '"c2hvcnQ="');
    const r = await runTml(['-u', sb.url, 'job', 'list'], home);
    t.is(r.status, 2);
    t.regex(
      r.stderr,
      /^tml: the token in .*token\.json has invalid length \(5 bytes instead of 128 bytes\); run tml login again\n$/,
    );
    t.is(sb.requests.length, 0);
  }));

test('the configuration file gives the URL; -u beats TML_SWITCHBOARD_URL, which beats the file', (t) =>
  withLogin(async (sb, home) => {
    const token = sb.newToken();
    writeFileSync(join(home.configDir, 'config.toml'), `[api]\nurl = "${sb.url}"\n`);
    const fromFile = await runTml(['-v', 'job', 'list'], home, { env: { TML_API_TOKEN: token } });
    t.is(fromFile.status, 0, fromFile.stderr);
    t.regex(fromFile.stderr, new RegExp(`switchboard ${sb.url} \\(from .*config\\.toml\\)`));
    const env = { TML_API_TOKEN: token, TML_SWITCHBOARD_URL: 'http://127.0.0.1:9' };
    t.is((await runTml(['job', 'list'], home, { env })).status, 1);
    t.is((await runTml(['-u', sb.url, 'job', 'list'], home, { env })).status, 0);
    t.is((await runTml(['--switchboard', sb.url, 'job', 'list'], home, { env })).status, 0);
  }));

test('a named profile has its URL and its own token; -c reads another file', (t) =>
  withLogin(async (sb, home) => {
    const file = join(home.dir, 'other.toml');
    writeFileSync(file, `[api]\nurl = "http://127.0.0.1:9"\n[profiles.lab.api]\nurl = "${sb.url}"\n`);
    const login = await runTml(['-c', file, '--profile', 'lab', 'login', 'alice', 'pw-alice'], home);
    t.is(login.status, 0, login.stderr);
    t.true(existsSync(join(home.dataDir, 'profiles', 'lab', 'token.json')));
    t.false(existsSync(join(home.dataDir, 'token.json')));
    t.is((await runTml(['-c', file, 'job', 'list'], home, { env: { TML_PROFILE: 'lab' } })).status, 0);
    const unknown = await runTml(['-c', file, '--profile', 'prod', 'job', 'list'], home);
    t.is(unknown.status, 2);
    t.regex(unknown.stderr, /^tml: --profile: no profile "prod" in .*other\.toml \(profiles: lab\)\n$/);
  }));

test('a TOML syntax error names the file, line and column, with the caret under it', (t) =>
  withLogin(async (_sb, home) => {
    writeFileSync(join(home.configDir, 'config.toml'), '[api]\nurl = \n');
    const r = await runTml(['job', 'list'], home);
    t.is(r.status, 2);
    const [first, ...context] = r.stderr.trimEnd().split('\n');
    t.regex(first!, /^tml: .*config\.toml: line 2, column 7: invalid TOML: invalid value$/);
    t.regex(context.join('\n'), /url = \n\s+\^/);
  }));

test('a key of the wrong type says the type it got', (t) =>
  withLogin(async (_sb, home) => {
    writeFileSync(join(home.configDir, 'config.toml'), 'ssh_keys = "ssh-ed25519 AAAA a, ssh-rsa BBBB b"\n');
    const r = await runTml(['job', 'list'], home);
    t.is(r.status, 2);
    t.regex(r.stderr, /^tml: .*config\.toml: ssh_keys must be an array of strings, got a string\n$/);
  }));

test("the file's ssh_keys go with every job, once each", (t) =>
  withLogin(async (sb, home) => {
    writeFileSync(
      join(home.configDir, 'config.toml'),
      `ssh_keys = ["ssh-ed25519 AAAA me"]\n[api]\nurl = "${sb.url}"\n`,
    );
    const env = { TML_API_TOKEN: sb.newToken() };
    const r = await runTml(
      ['job', 'enqueue', 'ab'.repeat(32), '--ssh-key', 'ssh-ed25519 AAAA me', '--ssh-key', 'ssh-rsa B x'],
      home,
      {
        env,
      },
    );
    t.is(r.status, 0, r.stderr);
    t.deepEqual((sb.enqueued[0] as { ssh_keys: string[] }).ssh_keys, ['ssh-ed25519 AAAA me', 'ssh-rsa B x']);
  }));
