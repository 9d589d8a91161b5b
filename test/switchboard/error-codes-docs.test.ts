import test from 'ava';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CONNECT_REFUSAL_STATUS, ERROR_STATUS } from '../../protocol/switchboard-api.js';

const DOC = readFileSync(fileURLToPath(new URL('../../../docs/switchboard.md', import.meta.url)), 'utf8');

test('docs/switchboard.md lists every REST error type with its status', (t) => {
  for (const [type, status] of Object.entries(ERROR_STATUS)) {
    t.regex(DOC, new RegExp(`^\\| \`${type}\` \\| ${status} \\|`, 'm'), type);
  }
});

test('docs/switchboard.md lists every refusal code of the supervisor WebSocket with its status', (t) => {
  for (const [code, status] of Object.entries(CONNECT_REFUSAL_STATUS)) {
    t.regex(DOC, new RegExp(`^\\| ${status} \`${code}\` \\|`, 'm'), code);
  }
});
