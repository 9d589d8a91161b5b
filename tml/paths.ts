// Where tml keeps its files, as upstream's `tml` 0.3 does (the `xdg` crate, prefix treadmill-tb):
// the token in $XDG_DATA_HOME/treadmill-tb/token.json, the configuration in
// $XDG_CONFIG_HOME/treadmill-tb/config.toml (then each of $XDG_CONFIG_DIRS), its SSH key in
// $XDG_DATA_HOME/treadmill-tb/ssh-key. A named profile (our extension) keeps its token apart.

import { homedir } from 'node:os';
import { join } from 'node:path';
import { UsageError } from '../protocol/cli.js';

export type Env = Record<string, string | undefined>;

const PREFIX = 'treadmill-tb';

/** An XDG variable counts only when it holds an absolute path (the XDG spec). */
function xdg(env: Env, name: string, fallback: string): string {
  const v = env[name];
  return v !== undefined && v.startsWith('/') ? v : fallback;
}

function home(env: Env): string {
  return env.HOME && env.HOME !== '' ? env.HOME : homedir();
}

export function dataDir(env: Env): string {
  return join(xdg(env, 'XDG_DATA_HOME', join(home(env), '.local', 'share')), PREFIX);
}

/** The configuration files to look for, first found wins. */
export function configCandidates(env: Env): string[] {
  const dirs = [xdg(env, 'XDG_CONFIG_HOME', join(home(env), '.config'))];
  for (const d of (env.XDG_CONFIG_DIRS || '/etc/xdg').split(':')) if (d.startsWith('/')) dirs.push(d);
  return dirs.map((d) => join(d, PREFIX, 'config.toml'));
}

const PROFILE_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;

export function checkProfileName(name: string, where: string): string {
  if (!PROFILE_NAME.test(name)) {
    throw new UsageError(
      `${where}: a profile name is 1 to 64 letters, digits, "_", "." or "-" (not first), got "${name.slice(0, 64)}"`,
    );
  }
  return name;
}

/** The directory of a profile's login: upstream's own for no profile. */
export function loginDir(env: Env, profile: string | null): string {
  return profile === null ? dataDir(env) : join(dataDir(env), 'profiles', profile);
}

export function tokenPath(env: Env, profile: string | null): string {
  return join(loginDir(env, profile), 'token.json');
}

/** Who logged in, where and until when (our extension, for `tml whoami`); never the token. */
export function sessionPath(env: Env, profile: string | null): string {
  return join(loginDir(env, profile), 'session.json');
}

export function sshKeyPath(env: Env): string {
  return join(dataDir(env), 'ssh-key');
}
