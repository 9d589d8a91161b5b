// The version `tml-puppet --version` prints. The single-file bundle that images carry has no
// package.json beside it, so its build writes the version in (TML_PUPPET_VERSION, see the
// `bundle` script); the compiled CLI of a checkout reads the package's.

import { readFileSync } from 'node:fs';

declare const TML_PUPPET_VERSION: string | undefined;

export function version(): string {
  if (typeof TML_PUPPET_VERSION === 'string') return TML_PUPPET_VERSION;
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version?: unknown;
    };
    if (typeof pkg.version === 'string') return pkg.version;
  } catch {
    // not in a checkout either
  }
  return 'unknown';
}
