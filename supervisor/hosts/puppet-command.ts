// Where the local host finds `tml-puppet`: the single-file bundle next to the compiled supervisor
// (what images ship), else the compiled CLI of this checkout, else a path the operator gave.

import { accessSync, constants, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface PuppetCommand {
  /** The executable to spawn, and the arguments that come before the puppet's own. */
  command: string;
  args: string[];
}

const JS_FILE = /\.(m|c)?js$/;

function commandFor(path: string): PuppetCommand {
  return JS_FILE.test(path) ? { command: process.execPath, args: [path] } : { command: path, args: [] };
}

export function findPuppet(override?: string): PuppetCommand {
  if (override !== undefined) {
    try {
      accessSync(override, JS_FILE.test(override) ? constants.R_OK : constants.X_OK);
    } catch {
      throw new Error(
        `puppet ${override} does not exist or is not ${JS_FILE.test(override) ? 'readable' : 'executable'}`,
      );
    }
    return commandFor(override);
  }
  // Compiled, this file is dist/supervisor/hosts/puppet-command.js.
  const bundle = fileURLToPath(new URL('../../tml-puppet.mjs', import.meta.url));
  if (existsSync(bundle)) return commandFor(bundle);
  const cli = fileURLToPath(new URL('../../puppet/cli.js', import.meta.url));
  if (existsSync(cli)) return commandFor(cli);
  throw new Error(`no tml-puppet found (looked for ${bundle} and ${cli}); run \`npm run build\` or pass --puppet PATH`);
}

function shellQuote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/** A /bin/sh wrapper that runs the puppet, so a boot script finds `tml-puppet` on its PATH. */
export function wrapperScript(puppet: PuppetCommand): string {
  const words = [puppet.command, ...puppet.args].map(shellQuote).join(' ');
  return `#!/bin/sh\nexec ${words} "$@"\n`;
}
