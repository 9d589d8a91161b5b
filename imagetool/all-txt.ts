import { join } from 'node:path';
import { describeFsError } from './errors.js';
import { ALL_TXT, IMAGE_TXT, isTempName, STATE_DIR } from './paths.js';
import { removeStaleTemps, writeFileAtomic } from './temp-files.js';
import { walkTree } from './tree-walk.js';

export interface IndexResult {
  files: number;
  /** names all.txt cannot represent (they contain a line break); left out and reported */
  skipped: string[];
}

function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/**
 * The lines of all.txt: what `find -type f ! -path './image.txt' ! -path './all.txt'` lists (regular files
 * only, symlinks excluded, `./`-prefixed), minus temporary files and the tool's own state directory, which
 * a mirror must never fetch; sorted by bytes (as `LC_ALL=C sort`) so the index is reproducible.
 */
export function listIndexEntries(storeDir: string): { lines: string[]; skipped: string[] } {
  const lines: string[] = [];
  const skipped: string[] = [];
  walkTree(
    storeDir,
    '',
    (e) => {
      if (e.kind !== 'file' || isTempName(e.name)) return;
      if (e.rel === IMAGE_TXT || e.rel === ALL_TXT) return;
      if (/[\n\r]/.test(e.rel)) skipped.push(e.rel);
      else lines.push(`./${e.rel}`);
    },
    (dir) => dir === STATE_DIR,
  );
  // Default sort compares UTF-16 code units, which equals byte order for ASCII names (all a store holds).
  if (lines.some((l) => /[^\x00-\x7f]/.test(l))) lines.sort(compareBytes);
  else lines.sort();
  return { lines, skipped };
}

/** Writes STORE/all.txt atomically: mirrors never see a half-written index. */
export async function writeIndex(storeDir: string): Promise<IndexResult> {
  await removeStaleTemps(storeDir);
  const { lines, skipped } = listIndexEntries(storeDir);
  await writeFileAtomic(join(storeDir, ALL_TXT), lines.length === 0 ? '' : `${lines.join('\n')}\n`).catch(
    (err: unknown) => {
      throw describeFsError(err, 'write', join(storeDir, ALL_TXT));
    },
  );
  return { files: lines.length, skipped };
}
