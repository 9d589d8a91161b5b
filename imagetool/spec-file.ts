import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parse, TomlError } from 'smol-toml';
import type { BlobSource, CreateInput } from './create.js';
import { describeFsError, ImageToolError } from './errors.js';

/**
 * The `build` spec file (docs/imagetool.md): the fields of `create` in TOML. Unlike manifests, spec files
 * are written by hand for this tool, so unknown keys are errors: a typo must not silently drop an attr.
 */

type Table = Record<string, unknown>;

function isTable(v: unknown): v is Table {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

/** A value as an error message shows it: numbers as they are, anything else by its TOML type. */
function describeValue(v: unknown): string {
  if (typeof v === 'number' || typeof v === 'bigint') return String(v);
  if (typeof v === 'string') return `the string ${JSON.stringify(v.slice(0, 40))}`;
  if (typeof v === 'boolean') return `the boolean ${v}`;
  if (Array.isArray(v)) return 'an array';
  if (v instanceof Date) return 'a date';
  return 'a table';
}

function checkKeys(t: Table, allowed: string[], where: string): void {
  for (const k of Object.keys(t)) {
    if (!allowed.includes(k))
      throw new ImageToolError(`${where}: unknown key ${JSON.stringify(k)} (allowed: ${allowed.join(', ')})`);
  }
}

function stringTable(v: unknown, where: string): Record<string, string> {
  if (v === undefined) return {};
  if (!isTable(v)) throw new ImageToolError(`${where} must be a table of strings`);
  return Object.fromEntries(
    Object.entries(v).map(([k, val]) => {
      if (typeof val !== 'string') throw new ImageToolError(`${where}.${JSON.stringify(k)} must be a string`);
      return [k, val];
    }),
  );
}

/** Pure part: TOML text plus the spec's directory -> create input (description_file still unread). */
export function parseSpec(text: string, specDir: string): { input: CreateInput; descriptionFile?: string } {
  let doc: Table;
  try {
    doc = parse(text, { integersAsBigInt: 'asNeeded' });
  } catch (err) {
    throw new ImageToolError(`bad TOML: ${err instanceof TomlError ? err.message.split('\n')[0] : String(err)}`);
  }
  checkKeys(doc, ['label', 'revision', 'description', 'description_file', 'attrs', 'blobs'], 'spec');
  if (typeof doc.label !== 'string') throw new ImageToolError('spec: label must be a string');
  if (
    doc.revision !== undefined &&
    (typeof doc.revision !== 'number' || !Number.isSafeInteger(doc.revision) || doc.revision < 0)
  ) {
    throw new ImageToolError(`spec: revision must be a non-negative integer, got ${describeValue(doc.revision)}`);
  }
  if (doc.description !== undefined && typeof doc.description !== 'string')
    throw new ImageToolError('spec: description must be a string');
  if (doc.description_file !== undefined && typeof doc.description_file !== 'string')
    throw new ImageToolError('spec: description_file must be a string');
  if (doc.description !== undefined && doc.description_file !== undefined)
    throw new ImageToolError('spec: give description or description_file, not both');
  if (!isTable(doc.blobs)) throw new ImageToolError('spec: [blobs] table missing');
  const blobs: Record<string, BlobSource> = Object.fromEntries(
    Object.entries(doc.blobs).map(([name, b]): [string, BlobSource] => {
      const where = `spec: blobs.${name}`;
      if (!isTable(b)) throw new ImageToolError(`${where} must be a table`);
      checkKeys(b, ['path', 'dir', 'zstd', 'attrs'], where);
      const attrs = stringTable(b.attrs, `${where}.attrs`);
      if (b.path !== undefined && b.dir !== undefined) throw new ImageToolError(`${where}: give path or dir, not both`);
      if (b.zstd !== undefined && typeof b.zstd !== 'boolean')
        throw new ImageToolError(`${where}.zstd must be true or false`);
      if (b.dir !== undefined) {
        if (typeof b.dir !== 'string') throw new ImageToolError(`${where}.dir must be a string`);
        return [name, { dir: resolve(specDir, b.dir), compression: b.zstd === true ? 'zstd' : undefined, attrs }];
      }
      if (typeof b.path !== 'string') throw new ImageToolError(`${where} needs path = "FILE" or dir = "DIRECTORY"`);
      if (b.zstd !== undefined) throw new ImageToolError(`${where}.zstd applies to a dir blob only`);
      return [name, { path: resolve(specDir, b.path), attrs }];
    }),
  );
  return {
    input: {
      label: doc.label,
      revision: doc.revision as number | undefined,
      description: doc.description as string | undefined,
      attrs: stringTable(doc.attrs, 'spec: attrs'),
      blobs,
    },
    descriptionFile: doc.description_file === undefined ? undefined : resolve(specDir, doc.description_file as string),
  };
}

export async function readSpec(specPath: string): Promise<CreateInput> {
  const text = await readFile(specPath, 'utf8').catch((err: unknown) => {
    throw describeFsError(err, 'read spec', specPath);
  });
  let parsed;
  try {
    parsed = parseSpec(text, dirname(resolve(specPath)));
  } catch (err) {
    if (err instanceof ImageToolError) throw new ImageToolError(`${specPath}: ${err.message}`);
    throw err;
  }
  if (parsed.descriptionFile === undefined) return parsed.input;
  const file = parsed.descriptionFile;
  const description = await readFile(file, 'utf8').catch((err: unknown) => {
    throw describeFsError(err, 'read description file', file);
  });
  return { ...parsed.input, description };
}
