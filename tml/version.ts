// The version `tml --version` prints: the package's, read when asked for.

import { readFileSync } from 'node:fs';

export function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version?: unknown;
    };
    if (typeof pkg.version === 'string') return pkg.version;
  } catch {
    // a bundled tml has no package.json beside it
  }
  return 'unknown';
}
