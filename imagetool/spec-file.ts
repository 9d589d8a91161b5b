import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { attempt, expectString, ValidationError } from '../protocol/validation.js';
import type { BlobSource, CreateInput } from './create.js';
import { describeFsError, ImageToolError } from './errors.js';
import { integer, isTable, parseToml, stringTable, type Table } from './toml-doc.js';

/**
 * The `build` spec file (docs/imagetool.md): the fields of `create` in TOML. Unlike manifests, spec files
 * are written by hand for this tool, so unknown keys are errors: a typo must not silently drop an attr.
 */

function checkKeys(t: Table, allowed: string[], where: string): void {
  for (const k of Object.keys(t)) {
    if (!allowed.includes(k))
      throw new ValidationError(`${where}: unknown key ${JSON.stringify(k)} (allowed: ${allowed.join(', ')})`);
  }
}

const optionalString = (v: unknown, where: string): string | undefined =>
  v === undefined ? undefined : expectString(v, where);

/**
 * Pure part: TOML text plus the spec's directory -> create input (description_file still unread).
 * Throws ValidationError naming the field.
 */
export function parseSpec(text: string, specDir: string): { input: CreateInput; descriptionFile?: string } {
  const doc = parseToml(text);
  checkKeys(doc, ['label', 'revision', 'description', 'description_file', 'attrs', 'blobs'], 'spec');
  if (doc.label === undefined) throw new ValidationError('spec: label missing');
  const label = expectString(doc.label, 'spec: label');
  const revision = doc.revision === undefined ? undefined : integer(doc.revision, 'spec: revision');
  // Upstream reads revision as usize: a negative one would make the manifest unreadable there.
  if (revision !== undefined && revision < 0)
    throw new ValidationError(`spec: revision must be a non-negative integer, got ${revision}`);
  const description = optionalString(doc.description, 'spec: description');
  const descriptionFile = optionalString(doc.description_file, 'spec: description_file');
  if (description !== undefined && descriptionFile !== undefined)
    throw new ValidationError('spec: give description or description_file, not both');
  if (!isTable(doc.blobs)) throw new ValidationError('spec: [blobs] table missing');
  const blobs: Record<string, BlobSource> = Object.fromEntries(
    Object.entries(doc.blobs).map(([name, b]): [string, BlobSource] => {
      const where = `spec: blobs.${name}`;
      if (!isTable(b)) throw new ValidationError(`${where} must be a table`);
      checkKeys(b, ['path', 'dir', 'zstd', 'attrs'], where);
      const attrs = stringTable(b.attrs, `${where}.attrs`);
      if (b.path !== undefined && b.dir !== undefined)
        throw new ValidationError(`${where}: give path or dir, not both`);
      if (b.zstd !== undefined && typeof b.zstd !== 'boolean')
        throw new ValidationError(`${where}.zstd must be true or false`);
      if (b.dir !== undefined) {
        if (typeof b.dir !== 'string') throw new ValidationError(`${where}.dir must be a string`);
        return [name, { dir: resolve(specDir, b.dir), compression: b.zstd === true ? 'zstd' : undefined, attrs }];
      }
      if (typeof b.path !== 'string') throw new ValidationError(`${where} needs path = "FILE" or dir = "DIRECTORY"`);
      if (b.zstd !== undefined) throw new ValidationError(`${where}.zstd applies to a dir blob only`);
      return [name, { path: resolve(specDir, b.path), attrs }];
    }),
  );
  return {
    input: { label, revision, description, attrs: stringTable(doc.attrs, 'spec: attrs'), blobs },
    descriptionFile: descriptionFile === undefined ? undefined : resolve(specDir, descriptionFile),
  };
}

export async function readSpec(specPath: string): Promise<CreateInput> {
  const text = await readFile(specPath, 'utf8').catch((err: unknown) => {
    throw describeFsError(err, 'read spec', specPath);
  });
  const parsed = attempt(() => parseSpec(text, dirname(resolve(specPath))));
  if (!parsed.ok) throw new ImageToolError(`${specPath}: ${parsed.error.message}`);
  const { input, descriptionFile: file } = parsed.value;
  if (file === undefined) return input;
  const description = await readFile(file, 'utf8').catch((err: unknown) => {
    throw describeFsError(err, 'read description file', file);
  });
  return { ...input, description };
}
