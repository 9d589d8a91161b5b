// The local socket's group, as the daemon resolves it.
import test from 'ava';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { resolveGroup } from '../../puppet/local-socket.js';
import { tempDir } from './harness.js';

test('socket groups resolve by name or number from the group file', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'group');
  await fs.writeFile(file, 'root:x:0:\ntml:x:4242:alice,bob\n');
  t.is(resolveGroup('tml', file), 4242);
  t.is(resolveGroup('17', file), 17);
  t.throws(() => resolveGroup('nobody-here', file), { message: 'unknown group "nobody-here"' });
});
