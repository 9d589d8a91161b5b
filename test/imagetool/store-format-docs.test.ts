import test from 'ava';
import { readFile } from 'node:fs/promises';
import * as format from '../../protocol/image-manifest.js';

const DOC = new URL('../../../docs/image-store.md', import.meta.url);

/** Every name a manifest or attribute can hold, from the one module that spells them. */
function names(): string[] {
  const out: string[] = [];
  for (const value of Object.values(format)) {
    if (typeof value === 'string') out.push(value);
    else if (typeof value === 'object' && value !== null && !(value instanceof RegExp) && !(value instanceof Set))
      out.push(...Object.values(value).filter((v): v is string => typeof v === 'string'));
  }
  return out;
}

test('docs/image-store.md names every manifest key and attribute of protocol/image-manifest.ts', async (t) => {
  const doc = await readFile(DOC, 'utf8');
  const all = names();
  t.true(all.includes(format.MANIFEST_KEY.digest) && all.includes(format.DIRECT_BOOT_ATTR.cmdline));
  const missing = all.filter((name) => !doc.includes(name));
  t.deepEqual(missing, []);
});
