import {
  BASE_EXT,
  BLOB_NAME_RE,
  MANIFEST_KEY as KEY,
  MANIFEST_LIMITS as LIMITS,
  MANIFEST_VERSION,
  OVERLONG_UPSTREAM_ATTR_NAMES,
} from '../protocol/image-manifest.js';
import { expectString, ValidationError } from '../protocol/validation.js';
import { DIGEST_RE } from './paths.js';
import { integer, isTable, parseToml, stringTable, type Table } from './toml-doc.js';
import { compareUtf8 } from './byte-order.js';

// The format is docs/image-store.md ("Manifest"); its key names and limits live in protocol/.

export interface BlobSpec {
  digest: string;
  size: number;
  attrs: Record<string, string>;
}
export interface Manifest {
  label: string;
  revision: number;
  description: string;
  attrs: Record<string, string>;
  blobs: Record<string, BlobSpec>;
}

const utf8Length = (s: string): number => Buffer.byteLength(s, 'utf8');
// With the u flag a surrogate pair is one code point, so this matches only lone surrogates, which UTF-8
// cannot encode (they would silently become U+FFFD and change the meaning).
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

function checkText(what: string, value: string, maxBytes: number): void {
  if (LONE_SURROGATE.test(value)) throw new ValidationError(`${what} is not valid Unicode`);
  const n = utf8Length(value);
  if (n > maxBytes) throw new ValidationError(`${what} is ${n} bytes, at most ${maxBytes} allowed`);
}

function checkAttrs(where: string, attrs: Record<string, string>): void {
  for (const [name, value] of Object.entries(attrs)) {
    const limit = OVERLONG_UPSTREAM_ATTR_NAMES.has(name) ? utf8Length(name) : LIMITS.attrNameBytes;
    checkText(`${where} attr name ${JSON.stringify(name)}`, name, limit);
    checkText(`${where} attr ${JSON.stringify(name)} value`, value, LIMITS.attrValueBytes);
  }
}

/** Checks every limit of the format (docs/image-store.md); run before anything is written to images/. */
export function validateManifest(m: Manifest): void {
  checkText('label', m.label, LIMITS.labelBytes);
  // Upstream reads revision as usize and sizes as u64: a negative value makes the manifest unreadable there.
  if (!Number.isSafeInteger(m.revision) || m.revision < 0)
    throw new ValidationError(`revision must be a non-negative integer, got ${m.revision}`);
  checkText('description', m.description, LIMITS.descriptionBytes);
  checkAttrs('image', m.attrs);
  const names = Object.keys(m.blobs);
  if (names.length > LIMITS.blobs) throw new ValidationError(`${names.length} blobs, at most ${LIMITS.blobs} allowed`);
  for (const name of names) {
    if (!BLOB_NAME_RE.test(name)) {
      throw new ValidationError(`blob name ${JSON.stringify(name)} must be 1-64 characters of A-Z a-z 0-9 _ -`);
    }
    const blob = m.blobs[name]!;
    if (!DIGEST_RE.test(blob.digest))
      throw new ValidationError(`blob ${name}: digest must be 64 lower-case hex characters`);
    if (!Number.isSafeInteger(blob.size) || blob.size < 0)
      throw new ValidationError(`blob ${name}: size must be a non-negative integer, got ${blob.size}`);
    checkAttrs(`blob ${name}`, blob.attrs);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Canonical writer. One form only: fixed section order, keys sorted by UTF-8 bytes, fixed quoting, so equal
// input gives equal bytes (hence equal image IDs) on any machine.

function sortedEntries<T>(record: Record<string, T>): Array<[string, T]> {
  return Object.entries(record).sort(([a], [b]) => compareUtf8(a, b));
}

function escapeChar(c: string): string {
  switch (c) {
    case '"':
      return '\\"';
    case '\\':
      return '\\\\';
    case '\b':
      return '\\b';
    case '\t':
      return '\\t';
    case '\n':
      return '\\n';
    case '\f':
      return '\\f';
    case '\r':
      return '\\r';
    default:
      return `\\u${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`;
  }
}

/** A TOML basic string: quote, backslash and every control character escaped. */
export function tomlString(s: string): string {
  return `"${s.replace(/["\\\u0000-\u001f\u007f]/g, escapeChar)}"`;
}

/**
 * A TOML multi-line basic string for text with line breaks (descriptions read better that way). Line
 * feeds stay literal; quotes, backslashes and other control characters (CR included, which parsers may
 * normalise) are escaped, so no `"""` or line-ending backslash can occur inside.
 */
function tomlMultilineString(s: string): string {
  return `"""\n${s.replace(/["\\\u0000-\u0009\u000b-\u001f\u007f]/g, escapeChar)}"""`;
}

function attrLines(attrs: Record<string, string>): string {
  return sortedEntries(attrs)
    .map(([k, v]) => `${tomlString(k)} = ${tomlString(v)}\n`)
    .join('');
}

/** Serialises a manifest in the canonical form; validates first, so it never emits an out-of-spec manifest. */
export function serializeManifest(m: Manifest): string {
  validateManifest(m);
  const q = tomlString;
  let out = `${KEY.version} = ${MANIFEST_VERSION}\n${KEY.extensions} = [ ${q(BASE_EXT)} ]\n\n`;
  out += `${q(KEY.label)} = ${q(m.label)}\n`;
  out += `${q(KEY.revision)} = ${m.revision}\n`;
  out += `${q(KEY.description)} = ${m.description.includes('\n') ? tomlMultilineString(m.description) : q(m.description)}\n`;
  out += `\n[${q(KEY.attrs)}]\n${attrLines(m.attrs)}`;
  // An explicit (possibly empty) blobs table keeps the key present, as upstream readers expect it.
  out += `\n[${q(KEY.blobs)}]\n`;
  for (const [name, blob] of sortedEntries(m.blobs)) {
    // Blob names are bare-key safe ([A-Za-z0-9_-]), so they stay unquoted as in the upstream recipe.
    out += `\n[${q(KEY.blobs)}.${name}]\n`;
    out += `${q(KEY.digest)} = ${q(blob.digest)}\n`;
    out += `${q(KEY.size)} = ${blob.size}\n`;
    out += `\n[${q(KEY.blobs)}.${name}.${q(KEY.attrs)}]\n${attrLines(blob.attrs)}`;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Lenient reader: any valid TOML, any key order or string style; unknown keys and extensions ignored.

function readString(t: Table, key: string, what: string): string {
  if (t[key] === undefined) throw new ValidationError(`missing ${what} (${JSON.stringify(key)})`);
  return expectString(t[key], what);
}

/** Parses and validates manifest bytes (untrusted: from a store or a mirror). Throws ValidationError. */
export function parseManifest(bytes: Uint8Array): Manifest {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new ValidationError('not valid UTF-8');
  }
  const doc = parseToml(text);
  const version = integer(doc[KEY.version], KEY.version);
  if (version !== MANIFEST_VERSION)
    throw new ValidationError(`unsupported ${KEY.version} ${version} (only ${MANIFEST_VERSION} is known)`);
  const exts = doc[KEY.extensions];
  if (!Array.isArray(exts) || !exts.every((e) => typeof e === 'string')) {
    throw new ValidationError(`${KEY.extensions} must be an array of strings`);
  }
  if (!exts.includes(BASE_EXT)) throw new ValidationError(`${KEY.extensions} lacks ${JSON.stringify(BASE_EXT)}`);
  const blobsTable = doc[KEY.blobs] ?? {};
  if (!isTable(blobsTable)) throw new ValidationError('blobs must be a table');
  // fromEntries defines own properties, so even a blob named __proto__ (a legal name) stays data.
  const blobs: Record<string, BlobSpec> = Object.fromEntries(
    Object.entries(blobsTable).map(([name, spec]) => {
      if (!isTable(spec)) throw new ValidationError(`blob ${name} must be a table`);
      const digest = readString(spec, KEY.digest, `blob ${name} digest`);
      const size = integer(spec[KEY.size], `blob ${name} size`);
      return [name, { digest, size, attrs: stringTable(spec[KEY.attrs], `blob ${name} attrs`) }];
    }),
  );
  const manifest: Manifest = {
    label: readString(doc, KEY.label, 'label'),
    revision: integer(doc[KEY.revision], 'revision'),
    description: doc[KEY.description] === undefined ? '' : expectString(doc[KEY.description], 'description'),
    attrs: stringTable(doc[KEY.attrs], 'image attrs'),
    blobs,
  };
  validateManifest(manifest);
  return manifest;
}
