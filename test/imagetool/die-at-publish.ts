// A writer that dies at the commit step: it runs createImage with a publish hook that, at the first
// publish of the chosen kind of file, prints what it saw and kills its own process with SIGKILL, after
// the temp file is complete and synced and before rename gives it its final name.
// Usage: node die-at-publish.js STORE BLOB_FILE blob|manifest|image.txt

import { existsSync, statSync, writeSync } from 'node:fs';
import { sep } from 'node:path';
import { createImage } from '../../imagetool/index.js';
import { setBeforePublish } from '../../imagetool/publish.js';

const [store, blobFile, kind] = process.argv.slice(2) as [string, string, string];

const isKind = (finalPath: string): boolean => {
  const rel = finalPath.slice(store.length + 1).split(sep);
  if (kind === 'blob') return rel[0] === 'blobs';
  if (kind === 'manifest') return rel[0] === 'images';
  return rel.length === 1 && rel[0] === 'image.txt';
};

setBeforePublish((tempPath, finalPath) => {
  if (!isKind(finalPath)) return;
  const seen = { tempPath, finalPath, tempSize: statSync(tempPath).size, finalExists: existsSync(finalPath) };
  writeSync(1, `${JSON.stringify(seen)}\n`);
  process.kill(process.pid, 'SIGKILL');
});

await createImage(store, { label: 'commit', blobs: { disk: { path: blobFile } } });
