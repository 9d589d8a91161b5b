// docs/switchboard.md lists every code a client must handle: each REST error type and device
// login error with its status, each job error kind and each WebSocket close code with its name, exactly as protocol/
// defines them, between the "error vocabulary" markers.

import test from 'ava';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DEVICE_ERROR_STATUS } from '../../protocol/device-flow.js';
import { CONNECT_REFUSAL_STATUS, ERROR_STATUS } from '../../protocol/switchboard-api.js';
import { CLOSE_CODES, JOB_ERROR_KINDS } from '../../protocol/switchboard-ws.js';

// Tests run from dist/test/switchboard/; the docs stay in the source tree.
const DOC = fileURLToPath(new URL('../../../docs/switchboard.md', import.meta.url));
const BEGIN = '<!-- BEGIN error vocabulary';
const END = '<!-- END error vocabulary -->';

/** The rows of the table whose header row starts with `| <first> |`, as arrays of cells. */
function tableRows(section: string, first: string): string[][] {
  const lines = section.split('\n');
  const start = lines.findIndex((l) => l.startsWith(`| ${first} |`));
  if (start < 0) return [];
  const rows: string[][] = [];
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith('|')) break;
    rows.push(
      line
        .slice(1, -1)
        .split('|')
        .map((c) => c.trim().replace(/^`|`$/g, '')),
    );
  }
  return rows;
}

/** Every difference between the documented vocabulary and protocol/'s, one line each. */
function vocabularyFindings(doc: string): string[] {
  const from = doc.indexOf(BEGIN);
  const to = doc.indexOf(END);
  if (from < 0 || to < from) return ['docs/switchboard.md has no error vocabulary section'];
  const section = doc.slice(from, to);
  const findings: string[] = [];
  const compare = (what: string, documented: Map<string, string>, actual: Map<string, string>) => {
    for (const [code, detail] of actual) {
      if (!documented.has(code)) findings.push(`${what} ${code} is not documented`);
      else if (documented.get(code) !== detail)
        findings.push(`${what} ${code} is documented as ${documented.get(code)}, but is ${detail}`);
    }
    for (const code of documented.keys()) if (!actual.has(code)) findings.push(`${what} ${code} no longer exists`);
  };
  compare(
    'REST error type',
    new Map(tableRows(section, 'REST error type').map(([code, status]) => [code!, status!])),
    new Map(Object.entries(ERROR_STATUS).map(([code, status]) => [code, String(status)])),
  );
  compare(
    'device login error',
    new Map(tableRows(section, 'device login error').map(([code, status]) => [code!, status!])),
    new Map(Object.entries(DEVICE_ERROR_STATUS).map(([code, status]) => [code, String(status)])),
  );
  compare(
    'job error kind',
    new Map(tableRows(section, 'job error kind').map(([kind]) => [kind!, 'listed'])),
    new Map(JOB_ERROR_KINDS.map((kind) => [kind, 'listed'])),
  );
  compare(
    'close code',
    new Map(tableRows(section, 'close code').map(([code, name]) => [code!, name!])),
    new Map(Object.entries(CLOSE_CODES).map(([name, code]) => [String(code), name])),
  );
  return findings;
}

const doc = readFileSync(DOC, 'utf8');

test('docs/switchboard.md lists every REST error type, device login error, job error kind and close code of protocol/', (t) => {
  t.deepEqual(vocabularyFindings(doc), []);
});

test('a code missing from the list, a wrong status and a code that no longer exists are each found', (t) => {
  const at = doc.indexOf(BEGIN);
  const broken =
    doc.slice(0, at) +
    doc
      .slice(at)
      .replace(/^\| `too_many_requests` \|.*\n/m, '')
      .replace('| `not_found` | 404 |', '| `not_found` | 410 |')
      .replace(/^\| `ImageInvalid` \|.*\n/m, '')
      .replace(/^\| `slow_down` \|.*\n/m, '')
      .replace('| 4003 | `superseded` |', '| 4003 | `replaced` |')
      .replace('| `internal` | 500 |', '| `internal` | 500 |\n| `teapot` | 418 | never |');
  t.deepEqual(vocabularyFindings(broken), [
    'REST error type not_found is documented as 410, but is 404',
    'REST error type too_many_requests is not documented',
    'REST error type teapot no longer exists',
    'device login error slow_down is not documented',
    'job error kind ImageInvalid is not documented',
    'close code 4003 is documented as replaced, but is superseded',
  ]);
});

test('docs/switchboard.md lists every refusal code of the supervisor WebSocket upgrade with its status', (t) => {
  for (const [code, status] of Object.entries(CONNECT_REFUSAL_STATUS)) {
    t.regex(doc, new RegExp(`^\\| ${status} \`${code}\` \\|`, 'm'), code);
  }
});

test('a doc without the delimited section fails as a whole', (t) => {
  t.deepEqual(vocabularyFindings('# Switchboard\n'), ['docs/switchboard.md has no error vocabulary section']);
});
