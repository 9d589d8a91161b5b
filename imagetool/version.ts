// The version `tml-imagetool --version` prints: the package's, read only when asked for.

import { readFileSync } from 'node:fs';

export function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version?: unknown;
    };
    if (typeof pkg.version === 'string') return pkg.version;
  } catch {
    // a copy of the tool without its package.json beside it
  }
  return 'unknown';
}
