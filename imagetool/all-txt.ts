import { join } from 'node:path';
import { describeFsError } from './errors.js';
import { ALL_TXT, BLOBS_DIR, IMAGE_TXT, IMAGES_DIR, isTempName, STATE_DIR } from './paths.js';
import { removeStaleTemps, writeFileAtomic } from './temp-files.js';
import { walkTree } from './tree-walk.js';
import { classifyStorePath } from './verify.js';
import { compareUtf8 } from './byte-order.js';

export interface IndexResult {
  files: number;
  /** names all.txt cannot represent (they contain a line break); left out and reported */
  skipped: string[];
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
  if (lines.some((l) => /[^\x00-\x7f]/.test(l))) lines.sort(compareUtf8);
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

/** One line of a mirror's all.txt, as pull reads it (untrusted: the mirror wrote it). */
export type IndexLine =
  | { kind: 'blob' | 'image'; digest: string; rel: string }
  /** a listed file that is not store content (a README, misplaced files): pull leaves it alone */
  | { kind: 'other'; rel: string }
  | { kind: 'invalid'; reason: string };

/**
 * Classifies an all.txt line. Only `./blobs/ab/cd/ef/<digest>` and `./images/ab/cd/ef/<digest>` are store
 * content; every other well-formed path is `other`; a path that is empty, absolute, not `./`-prefixed or
 * has `.`, `..` or empty segments is `invalid` (it could name a file outside the store).
 */
export function parseIndexLine(line: string): IndexLine {
  const text = line.endsWith('\r') ? line.slice(0, -1) : line;
  if (!text.startsWith('./')) return { kind: 'invalid', reason: 'does not start with ./' };
  const rel = text.slice(2);
  if (rel === '') return { kind: 'invalid', reason: 'names no file' };
  if (/[\u0000\n\r]/.test(rel)) return { kind: 'invalid', reason: 'holds a control character' };
  const parts = rel.split('/');
  if (parts.some((p) => p === '' || p === '.' || p === '..'))
    return { kind: 'invalid', reason: 'has an empty, . or .. path segment' };
  const top = parts[0];
  if (top === BLOBS_DIR || top === IMAGES_DIR) {
    const place = classifyStorePath(rel);
    if (place.kind === 'content') return { kind: top === BLOBS_DIR ? 'blob' : 'image', digest: place.digest, rel };
  }
  return { kind: 'other', rel };
}
