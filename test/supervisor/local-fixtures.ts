// Temporary image stores holding one boot-script image, for tests of the local host.

import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createImage, readManifest, type Manifest } from '../../imagetool/index.js';
import { LOCAL_ENTRYPOINT_ATTR } from '../../supervisor/hosts/local.js';

export interface Fixture {
  dir: string;
  storeDir: string;
  imageId: string;
  manifest: Manifest;
  /** A fresh job directory inside dir. */
  jobDir: string;
  cleanup(): Promise<void>;
}

export async function imageWithBootScript(script: string, opts: { entrypoint?: boolean } = {}): Promise<Fixture> {
  const dir = await mkdtemp(join(tmpdir(), 'tml-sup-test-'));
  const storeDir = join(dir, 'store');
  const source = join(dir, 'boot.sh');
  await writeFile(source, script);
  const imageId = await createImage(storeDir, {
    label: 'local host test',
    attrs: opts.entrypoint === false ? {} : { [LOCAL_ENTRYPOINT_ATTR]: 'boot' },
    blobs: { boot: { path: source } },
  });
  const jobDir = await mkdtemp(join(dir, 'job-'));
  return {
    dir,
    storeDir,
    imageId,
    manifest: await readManifest(storeDir, imageId),
    jobDir,
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

/** True while a process with this pid runs (a zombie waiting to be reaped by init counts as gone). */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The state follows the parenthesised command name, which may itself contain ')'.
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Pids of running processes whose command line mentions text (e.g. a job directory). */
export function processesMentioning(text: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(text) && alive(Number(entry)))
        pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}
