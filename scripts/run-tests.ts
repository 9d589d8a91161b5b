// `npm test`'s runner: every test once (ava, with the arguments given), then the tests of
// in-process switchboards again on PostgreSQL when a server is there (TML_TEST_POSTGRES_URL, as
// scripts/test-postgres sets it), so both engines pass the same suite. Without a server that
// second pass is skipped with one loud line, or fails under TML_TEST_REQUIRE_ALL=1.

import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const ava = join(root, 'node_modules', 'ava', 'entrypoints', 'cli.mjs');
const args = process.argv.slice(2);

function run(extra: string[], env: NodeJS.ProcessEnv = {}): number {
  const r = spawnSync(process.execPath, [ava, ...args, ...extra], {
    stdio: 'inherit',
    env: { ...process.env, ...env },
  });
  return r.status ?? 1;
}

/** The compiled test files whose sources start a switchboard in the test's process. */
function switchboardTests(): string[] {
  const found: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(join(root, dir), { withFileTypes: true })) {
      const rel = join(dir, e.name);
      if (e.isDirectory()) walk(rel);
      else if (e.name.endsWith('.test.ts') && /\bstart(?:Harness|Web)\(/.test(readFileSync(join(root, rel), 'utf8')))
        found.push(join('dist', rel.replace(/\.ts$/, '.js')));
    }
  };
  walk('test');
  return found.sort();
}

let status = run([]);
if (process.env.TML_TEST_POSTGRES_URL) {
  status = run(switchboardTests(), { TML_TEST_SWITCHBOARD_DB: 'postgres' }) || status;
} else if (process.env.TML_TEST_REQUIRE_ALL === '1') {
  console.error(
    'TML_TEST_REQUIRE_ALL=1: the switchboard tests on PostgreSQL need TML_TEST_POSTGRES_URL (scripts/test-postgres; apt-get install postgresql)',
  );
  status = 1;
} else {
  console.error(
    'SKIPPED: the switchboard tests on PostgreSQL need a server named by TML_TEST_POSTGRES_URL (run npm test under scripts/test-postgres; apt-get install postgresql); set TML_TEST_REQUIRE_ALL=1 to make this a failure',
  );
}
process.exit(status);
