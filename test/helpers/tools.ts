// Outside tools some test groups need (qemu-img, QEMU, OVMF, PostgreSQL, a browser, wget). A group
// asks once; when the tool is missing it is skipped with one loud line naming the tool and the
// apt-get install that brings it, or, under TML_TEST_REQUIRE_ALL=1 (as .ci/run sets), it fails.

import test, { type ExecutionContext } from 'ava';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** The path of `name` on PATH (or the given PATH), or null. */
export function findOnPath(name: string, path = process.env.PATH ?? ''): string | null {
  for (const dir of path.split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

export interface Requirement {
  /** What is missing, as a user would look for it: "qemu-img", "OVMF firmware", "PostgreSQL". */
  tool: string;
  /** How to bring it, e.g. "apt-get install qemu-utils". */
  install: string;
  found: boolean;
}

/** An outside program on PATH. */
export function program(name: string, aptPackage: string): Requirement {
  return { tool: name, install: `apt-get install ${aptPackage}`, found: findOnPath(name) !== null };
}

/** The line printed for a skipped group. */
export function skipNotice(r: Requirement): string {
  return `SKIPPED: these tests need ${r.tool}, which is not installed (${r.install}); set TML_TEST_REQUIRE_ALL=1 to make this a failure`;
}

type Impl = (t: ExecutionContext) => unknown;
type Hook = Impl;

/** ava's `test` as a group of tests that need outside tools uses it. */
export interface GroupTest {
  (title: string, impl: Impl): void;
  serial(title: string, impl: Impl): void;
  before(hook: Hook): void;
  after(hook: Hook): void;
  beforeEach(hook: Hook): void;
  afterEach(hook: Hook): void;
}

const noHook = (): void => {};

/**
 * The `test` function for a group that needs every one of `requirements`: ava's own when all are
 * there. Otherwise its tests are skipped (after one loud line) and its hooks never run, or, under
 * TML_TEST_REQUIRE_ALL=1, every test fails naming what is missing.
 */
export function testWith(...requirements: Requirement[]): GroupTest {
  const missing = requirements.filter((r) => !r.found);
  if (missing.length === 0) {
    const g = ((title: string, impl: Impl) => test(title, impl)) as GroupTest;
    return Object.assign(g, {
      serial: (title: string, impl: Impl) => test.serial(title, impl),
      before: (h: Hook) => test.before(h),
      after: (h: Hook) => test.after.always(h),
      beforeEach: (h: Hook) => test.beforeEach(h),
      afterEach: (h: Hook) => test.afterEach.always(h),
    });
  }
  let run: (title: string) => void;
  if (process.env.TML_TEST_REQUIRE_ALL === '1') {
    const why = missing.map((r) => `${r.tool} is missing (${r.install})`).join('; ');
    run = (title) => test(title, (t) => t.fail(`TML_TEST_REQUIRE_ALL=1: ${why}`));
  } else {
    for (const r of missing) console.error(skipNotice(r));
    run = (title) => test.skip(title, noHook);
  }
  const g = ((title: string) => run(title)) as unknown as GroupTest;
  return Object.assign(g, { serial: run, before: noHook, after: noHook, beforeEach: noHook, afterEach: noHook });
}
