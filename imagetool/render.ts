import type { Manifest } from './manifest.js';
import type { ImageSummary } from './store.js';
import type { Finding } from './verify.js';

/** Text renderings of command results for humans; --json output is the plain objects instead. */

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(1)} ${units[u]}`;
}

export function renderList(images: ImageSummary[]): string {
  if (images.length === 0) return '';
  const rows = images.map((i) => [i.id, String(i.revision), String(i.blobCount), formatBytes(i.totalSize), i.label]);
  const header = ['ID', 'REVISION', 'BLOBS', 'SIZE', 'LABEL'];
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
  const line = (cells: string[]): string =>
    cells.map((cell, c) => (c === cells.length - 1 ? cell : cell.padEnd(widths[c]!))).join('  ');
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

const indent = (text: string, by: string): string =>
  text
    .split('\n')
    .map((l) => by + l)
    .join('\n');

export function renderManifest(id: string, m: Manifest): string {
  const out = [`id:          ${id}`, `label:       ${m.label}`, `revision:    ${m.revision}`];
  if (m.description !== '') out.push('description:', indent(m.description.replace(/\n$/, ''), '  '));
  const attrs = Object.entries(m.attrs);
  if (attrs.length > 0) out.push('attrs:', ...attrs.map(([k, v]) => `  ${k} = ${v}`));
  const blobs = Object.entries(m.blobs);
  out.push(`blobs:       ${blobs.length}`);
  for (const [name, b] of blobs) {
    out.push(`  ${name}: ${b.digest} (${formatBytes(b.size)})`);
    out.push(...Object.entries(b.attrs).map(([k, v]) => `    ${k} = ${v}`));
  }
  return out.join('\n') + '\n';
}

export function renderFindings(findings: Finding[]): string {
  return findings.map((f) => `${f.kind} ${f.path}: ${f.message}\n`).join('');
}
