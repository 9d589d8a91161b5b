import test from 'ava';
import fc from 'fast-check';
import { ConfigError, parseConfig, parseConfigText, type ConfigFile } from '../../tml/config-file.js';
import { DEFAULT_SWITCHBOARD_URL, resolveSettings, resolveToken, type SettingsFlags } from '../../tml/settings.js';
import { configCandidates, dataDir, tokenPath, type Env } from '../../tml/paths.js';
import { UsageError } from '../../protocol/cli.js';
import { randomBytes } from 'node:crypto';

const HOME = { HOME: '/home/u' };

function config(text: Partial<ConfigFile>): ConfigFile {
  return { path: '/c.toml', base: {}, profiles: {}, unknownKeys: [], ...text };
}

const withProfile = config({
  base: { url: 'http://file' },
  profiles: { lab: { url: 'http://lab' }, empty: {} },
});

test('the URL: the flag beats the environment, which beats the profile, which beats the file, which beats the default', (t) => {
  const env = { ...HOME, TML_SWITCHBOARD_URL: 'http://env' };
  const url = (flags: SettingsFlags, e: Env, c: ConfigFile | null) => resolveSettings(flags, e, c).url;
  t.is(url({ apiUrl: 'http://flag', profile: 'lab' }, env, withProfile), 'http://flag');
  t.is(url({ profile: 'lab' }, env, withProfile), 'http://env');
  t.is(url({ profile: 'lab' }, HOME, withProfile), 'http://lab');
  t.is(url({ profile: 'empty' }, HOME, withProfile), 'http://file');
  t.is(url({}, HOME, withProfile), 'http://file');
  t.is(url({}, HOME, null), DEFAULT_SWITCHBOARD_URL);
});

test('the profile: --profile beats TML_PROFILE, which beats profile = in the file', (t) => {
  const c = config({ ...withProfile, defaultProfile: 'empty' });
  t.is(resolveSettings({ profile: 'lab' }, { ...HOME, TML_PROFILE: 'empty' }, c).profile, 'lab');
  t.is(resolveSettings({}, { ...HOME, TML_PROFILE: 'lab' }, c).profile, 'lab');
  t.is(resolveSettings({}, HOME, c).profile, 'empty');
  t.is(resolveSettings({}, HOME, withProfile).profile, null);
});

test('each profile has its own token file; no profile is upstream token.json', (t) => {
  t.is(resolveSettings({}, HOME, withProfile).tokenFile, '/home/u/.local/share/treadmill-tb/token.json');
  t.is(
    resolveSettings({ profile: 'lab' }, HOME, withProfile).tokenFile,
    '/home/u/.local/share/treadmill-tb/profiles/lab/token.json',
  );
});

test('XDG variables count only when they are absolute paths', (t) => {
  t.is(dataDir({ ...HOME, XDG_DATA_HOME: '/x/data' }), '/x/data/treadmill-tb');
  t.is(dataDir({ ...HOME, XDG_DATA_HOME: 'relative' }), '/home/u/.local/share/treadmill-tb');
  t.deepEqual(configCandidates({ ...HOME, XDG_CONFIG_DIRS: '/a:rel:/b' }), [
    '/home/u/.config/treadmill-tb/config.toml',
    '/a/treadmill-tb/config.toml',
    '/b/treadmill-tb/config.toml',
  ]);
  t.is(tokenPath({ ...HOME, XDG_DATA_HOME: '/d' }, null), '/d/treadmill-tb/token.json');
});

test('an unknown profile is refused, naming the known ones', (t) => {
  const err = t.throws(() => resolveSettings({ profile: 'prod' }, HOME, withProfile), { instanceOf: UsageError });
  t.is(err.message, '--profile: no profile "prod" in /c.toml (profiles: lab, empty)');
});

test('a URL that is not http(s) is refused, naming where it came from', (t) => {
  t.throws(() => resolveSettings({}, { ...HOME, TML_SWITCHBOARD_URL: 'ftp://x' }, null), {
    message: 'switchboard URL "ftp://x" (from TML_SWITCHBOARD_URL) must start with http:// or https://',
  });
  t.throws(() => resolveSettings({ apiUrl: 'not a url' }, HOME, null), {
    message: /invalid switchboard URL "not a url" \(from --api-url\)/,
  });
});

test('the token: TML_API_TOKEN beats the token file; a malformed one is named with its source', (t) => {
  const token = randomBytes(128).toString('base64');
  const s = resolveSettings({}, { HOME: '/nonexistent-home' }, null);
  t.deepEqual(resolveToken(s, { TML_API_TOKEN: token }), { token, source: 'TML_API_TOKEN' });
  t.throws(() => resolveToken(s, { TML_API_TOKEN: 'abc' }), { message: 'TML_API_TOKEN is not standard base64' });
  t.throws(() => resolveToken(s, {}), {
    message: /^no API token: set TML_API_TOKEN or run tml login \(no \/nonexistent-home\//,
  });
});

test('time-out flags take durations and refuse others', (t) => {
  const s = resolveSettings({ connectTimeout: '2s', requestTimeout: '500ms' }, HOME, null);
  t.is(s.connectTimeoutMs, 2000);
  t.is(s.requestTimeoutMs, 500);
  t.throws(() => resolveSettings({ requestTimeout: 'soon' }, HOME, null), {
    message: /^--request-timeout: invalid duration "soon"/,
  });
});

test("upstream's configuration reads as upstream's tml reads it", async (t) => {
  const c = await parseConfigText(
    'ssh_keys = ["ssh-ed25519 AAAA me"]\n[api]\nurl = "https://swb.treadmill.ci"\n',
    '/c',
  );
  t.deepEqual(c.base, { url: 'https://swb.treadmill.ci', sshKeys: ['ssh-ed25519 AAAA me'] });
  t.deepEqual(c.unknownKeys, []);
});

test('unknown keys are listed (and ignored, as upstream ignores them)', async (t) => {
  const c = await parseConfigText('colour = 1\n[api]\nulr = "x"\n[profiles.a]\nfoo = 2\n', '/c');
  t.deepEqual(c.unknownKeys.sort(), ['api.ulr', 'colour', 'profiles.a.foo']);
});

test('type errors name the key and the type found', (t) => {
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ api: { url: 1 } }, '/c: api.url must be a string, got a number'],
    [{ api: 'x' }, '/c: api must be a table ([api]), got a string'],
    [{ ssh_keys: [1] }, '/c: ssh_keys[0] must be a string, got a number'],
    [{ internal_ssh_key: 'yes' }, '/c: internal_ssh_key must be true or false, got a string'],
    [{ profiles: { lab: { api: { url: false } } } }, '/c: profiles.lab.api.url must be a string, got a boolean'],
    [{ profile: 3 }, '/c: profile must be a string, got a number'],
  ];
  for (const [doc, message] of cases) t.throws(() => parseConfig(doc, '/c'), { instanceOf: ConfigError, message });
});

test('a TOML syntax error keeps the line, the column and the caret', async (t) => {
  const err = await t.throwsAsync(parseConfigText('[api]\nurl = "x\n', '/c'), { instanceOf: ConfigError });
  t.regex(err.message, /^\/c: line 2, column \d+: invalid TOML: /);
  t.regex(err.context!, /\^/);
});

test('any configuration text gives a configuration or a ConfigError', async (t) => {
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(fc.string(), fc.constantFrom('[api]\nurl = 1', 'ssh_keys = [[]]', '[profiles]\n"" = 1')),
      async (text) => {
        try {
          await parseConfigText(text, '/c');
        } catch (err) {
          if (!(err instanceof ConfigError)) throw err;
        }
      },
    ),
  );
  t.pass();
});
