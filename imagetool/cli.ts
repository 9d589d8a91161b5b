#!/usr/bin/env node
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import yargs, { type Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { EXIT, ExitWith, runCli, typingMistake, UsageError } from '../protocol/cli.js';
import {
  completionArgs,
  completionFromHelp,
  type Exits,
  exitsText,
  manualPath,
  teach,
  USAGE_EXIT,
} from '../protocol/cli-help.js';
import { stdoutColumns } from '../protocol/stdout.js';
import type { BlobSource, CreateInput } from './create.js';
import { describeFsError, ImageToolError } from './errors.js';
import { bootWorkers } from './hash-pool.js';
import { parseMirrorUrl } from './mirror-url.js';
import { formatBytes, renderFindings, renderList, renderManifest } from './render.js';
import {
  listImageIdsSync,
  readManifest,
  readManifestSync,
  readManifestBytes,
  resolveImageId,
  summarize,
  type ImageSummary,
} from './store.js';
import { version } from './version.js';
import { compareUtf8 } from './byte-order.js';

// Each command loads the modules only it needs (tar and zstd, progress bars, the HTTP client): a
// command's start-up is then its own, not that of every other command.

const out = (text: string): void => {
  process.stdout.write(text);
};
const json = (value: unknown): void => out(`${JSON.stringify(value, null, 2)}\n`);

/** What a writer prints when it has to wait for a running gc (nothing with --quiet). */
const gcWaitNotice =
  (quiet: boolean) =>
  (pid: number): void => {
    if (!quiet) process.stderr.write(`tml-imagetool: waiting for gc (pid ${pid}) to finish\n`);
  };

interface Common {
  store: string;
  quiet: boolean;
}

function existingStore(dir: string): string {
  let st;
  try {
    st = statSync(dir);
  } catch (err) {
    throw describeFsError(err, 'open store', dir);
  }
  if (!st.isDirectory()) throw new ImageToolError(`store ${dir} is not a directory`);
  return dir;
}

/** Splits KEY=VALUE at the first '='; keys may contain dots and colons, values anything. */
function keyValue(flag: string, text: string): [string, string] {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new UsageError(`${flag} ${JSON.stringify(text)}: expected KEY=VALUE`);
  return [text.slice(0, eq), text.slice(eq + 1)];
}

function noDuplicates(flag: string, pairs: Array<[string, unknown]>): void {
  const seen = new Set<string>();
  for (const [k] of pairs) {
    if (seen.has(k)) throw new UsageError(`${flag}: ${JSON.stringify(k)} given twice`);
    seen.add(k);
  }
}

function parseRevision(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value)))
    throw new UsageError(`--revision ${JSON.stringify(value)}: expected a non-negative integer`);
  return Number(value);
}

async function description(args: { description?: string; 'description-file'?: string }): Promise<string | undefined> {
  if (args.description !== undefined && args['description-file'] !== undefined)
    throw new UsageError('give --description or --description-file, not both');
  const file = args['description-file'];
  if (file === undefined) return args.description;
  const { readFile } = await import('node:fs/promises');
  return readFile(file, 'utf8').catch((err: unknown) => {
    throw describeFsError(err, 'read description file', file);
  });
}

/** Turns create's repeated flags into the library's input; every malformed flag is a usage error. */
function createInput(args: {
  label: string;
  attr: string[];
  blob: string[];
  'blob-dir': string[];
  zstd: boolean;
  'blob-attr': string[];
}): Omit<CreateInput, 'description' | 'revision'> {
  const attrs = args.attr.map((a) => keyValue('--attr', a));
  noDuplicates('--attr', attrs);
  const files = args.blob.map((b) => keyValue('--blob', b));
  const dirs = args['blob-dir'].map((b) => keyValue('--blob-dir', b));
  if (files.length + dirs.length === 0)
    throw new UsageError('give at least one --blob NAME=FILE or --blob-dir NAME=DIR');
  if (args.zstd && dirs.length === 0) throw new UsageError('--zstd compresses --blob-dir blobs; there is none');
  noDuplicates('--blob and --blob-dir', [...files, ...dirs]);
  const blobAttrs = new Map<string, Array<[string, string]>>([...files, ...dirs].map(([name]) => [name, []]));
  for (const ba of args['blob-attr']) {
    const colon = ba.indexOf(':');
    if (colon <= 0) throw new UsageError(`--blob-attr ${JSON.stringify(ba)}: expected NAME:KEY=VALUE`);
    const name = ba.slice(0, colon);
    const list = blobAttrs.get(name);
    if (!list)
      throw new UsageError(`--blob-attr ${JSON.stringify(ba)}: no --blob or --blob-dir named ${JSON.stringify(name)}`);
    list.push(keyValue('--blob-attr', ba.slice(colon + 1)));
  }
  for (const [name, list] of blobAttrs) noDuplicates(`--blob-attr ${name}`, list);
  const attrsOf = (name: string): Record<string, string> => Object.fromEntries(blobAttrs.get(name)!);
  const blobs: CreateInput['blobs'] = Object.fromEntries([
    ...files.map(([name, path]): [string, BlobSource] => [name, { path: resolve(path), attrs: attrsOf(name) }]),
    ...dirs.map(([name, dir]): [string, BlobSource] => [
      name,
      { dir: resolve(dir), compression: args.zstd ? 'zstd' : undefined, attrs: attrsOf(name) },
    ]),
  ]);
  return { label: args.label, attrs: Object.fromEntries(attrs), blobs };
}

/** The mtime of directory blobs' entries; SOURCE_DATE_EPOCH is read only when there is such a blob. */
async function sourceDateEpoch(needed: boolean): Promise<number> {
  if (!needed) return 0;
  const { parseSourceDateEpoch } = await import('./tar-dir.js');
  return parseSourceDateEpoch(process.env.SOURCE_DATE_EPOCH);
}

const hasDirBlob = (input: CreateInput): boolean => Object.values(input.blobs).some((b) => b.dir !== undefined);

/** Creates the image with a progress bar on a terminal; returns its ID. */
async function create(store: string, input: CreateInput, quiet: boolean): Promise<string> {
  const [{ createImage }, { withProgress }] = await Promise.all([import('./create.js'), import('./progress.js')]);
  const epoch = await sourceDateEpoch(hasDirBlob(input));
  return withProgress('hashing', !quiet, (bar) =>
    createImage(store, input, { ...bar, onWaitForGc: gcWaitNotice(quiet), sourceDateEpoch: epoch }),
  );
}

/** Sync throughout (listImageIdsSync): `list` does nothing meanwhile. */
function list(args: Common & { json: boolean }): void {
  const store = existingStore(args.store);
  const images: ImageSummary[] = [];
  for (const id of listImageIdsSync(store)) {
    try {
      images.push(summarize(id, readManifestSync(store, id)));
    } catch (err) {
      if (!(err instanceof ImageToolError)) throw err;
      if (!args.quiet) process.stderr.write(`tml-imagetool: warning: skipped ${err.message}\n`);
    }
  }
  images.sort((a, b) => compareUtf8(a.label, b.label) || a.revision - b.revision || (a.id < b.id ? -1 : 1));
  if (args.json) json(images);
  else out(renderList(images));
}

/**
 * `list` with its flags in their plain spellings (--store DIR, --json, --quiet or -q, each at most
 * once), as scripts type it: read without building the parser, which costs `list` as much as its
 * own work. These are the arguments yargs would make of those words; any other words, --help
 * included, go to yargs.
 */
function plainList(words: string[]): (Common & { json: boolean }) | undefined {
  let command = false;
  let store: string | undefined;
  let json = false;
  let quiet = false;
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    if (w === 'list' && !command) command = true;
    else if (w === '--json' && !json) json = true;
    else if ((w === '--quiet' || w === '-q') && !quiet) quiet = true;
    else if (w === '--store' && store === undefined && i + 1 < words.length && !words[i + 1]!.startsWith('-'))
      store = words[++i]!;
    else return undefined;
  }
  return command ? { store: resolve(store ?? process.env.TML_IMAGE_STORE ?? '.'), json, quiet } : undefined;
}

async function resolveAll(store: string, ids: string[]): Promise<string[]> {
  const resolved: string[] = [];
  for (const id of ids) resolved.push(await resolveImageId(store, id));
  return [...new Set(resolved)];
}

const jsonOpt = {
  json: { type: 'boolean', default: false, describe: 'print a machine-readable JSON result' },
} as const;

const MANUAL = 'imagetool.md';
const FAILED = 'the operation failed: a bad input file, an I/O error, an invalid manifest, ...';
const exits = (ok: string, failed = FAILED): Exits => [[0, ok], [1, failed], USAGE_EXIT];

/** Each command's examples and exit codes, shown by its --help (and in docs/imagetool.md). */
const HELP: Record<string, { examples: Array<[string, string]>; exits: Exits }> = {
  root: {
    examples: [
      ['$0 build image.toml --store STORE', 'build an image from a spec file; prints its ID'],
      ['$0 verify --store STORE', 'check every image and blob of a store'],
    ],
    exits: exits('done; for verify, the store (or the given images) is sound', `${FAILED}, or verify found problems`),
  },
  create: {
    examples: [['$0 create --label "My image" --blob boot=boot.sh --attr k=v --store STORE', 'prints the image ID']],
    exits: exits('created (or already there); the image ID is on stdout'),
  },
  build: {
    examples: [['$0 build examples/imagetool/image.toml --store STORE', 'prints the image ID']],
    exits: exits('built (or already there); the image ID is on stdout', `${FAILED}, or a bad spec file`),
  },
  verify: {
    examples: [
      ['$0 verify --store STORE', 'the whole store'],
      ['$0 verify 1f2e --json', 'one image, by an ID prefix, as JSON'],
    ],
    exits: exits('the store (or the given images) is sound', `verify found problems (one line each), or ${FAILED}`),
  },
  index: { examples: [['$0 index --store STORE', 'before an rsync to a mirror']], exits: exits('all.txt written') },
  list: { examples: [['$0 list --json', 'every image, as JSON']], exits: exits('listed') },
  show: {
    examples: [
      ['$0 show 1f2e', "an image's manifest, by an ID prefix"],
      ['$0 show 1f2e --raw', 'the manifest bytes as stored'],
    ],
    exits: exits('shown', `${FAILED}, or no image (or more than one) has that ID prefix`),
  },
  copy: { examples: [['$0 copy 1f2e --to /srv/mirror', 'with its blobs, each verified']], exits: exits('copied') },
  gc: {
    examples: [
      ['$0 gc --dry-run', 'what would be removed'],
      ['$0 gc', 'remove it'],
    ],
    exits: exits('done (or, with --dry-run, listed)'),
  },
  pull: {
    examples: [
      ['$0 pull https://mirror.example/store/ --all', 'everything the mirror has'],
      ['$0 pull https://mirror.example/store/ 1f2e -j 8', 'one image, 8 downloads at once'],
    ],
    exits: exits('pulled, every file verified', `${FAILED}, or a download failed or did not match its hash`),
  },
  rm: { examples: [['$0 rm 1f2e && $0 gc', 'remove an image, then its blobs']], exits: exits('removed') },
  layer: {
    examples: [['$0 layer --base 1f2e --blob overlay.qcow2 --label "With tools"', 'prints the new image ID']],
    exits: exits('layered; the new image ID is on stdout', `${FAILED}, or the base is not a layered image`),
  },
};

const taught = <T>(y: Argv<T>, name: string): Argv<T> => teach(y, { ...HELP[name]!, manual: MANUAL });

function cli(argv: string[]): Argv<Common> {
  return yargs(argv)
    .scriptName('tml-imagetool')
    .usage('$0 <command> [options]\n\nBuild, check, index and mirror Treadmill image stores.')
    .option('store', {
      type: 'string',
      default: process.env.TML_IMAGE_STORE ?? '.',
      defaultDescription: '$TML_IMAGE_STORE, else the current directory',
      describe: 'image store directory',
      coerce: (s: string) => resolve(s),
    })
    .option('quiet', {
      alias: 'q',
      type: 'boolean',
      default: false,
      describe: 'no progress bar, summaries or warnings',
    })
    .command(
      'create',
      'add blobs and a manifest; print the image ID',
      (y) =>
        taught(y, 'create')
          .option('label', { type: 'string', demandOption: true, describe: 'image label (<= 64 bytes)' })
          .option('revision', { type: 'string', describe: 'revision number (default 0)' })
          .option('description', { type: 'string', describe: 'description text (Markdown)' })
          .option('description-file', { type: 'string', describe: 'read the description from a file' })
          .option('attr', {
            type: 'string',
            array: true,
            default: [] as string[],
            describe: 'image attribute KEY=VALUE (repeatable)',
          })
          .option('blob', {
            type: 'string',
            array: true,
            default: [] as string[],
            describe: 'blob NAME=FILE (repeatable)',
          })
          .option('blob-dir', {
            type: 'string',
            array: true,
            default: [] as string[],
            describe: 'blob NAME=DIR: the directory as a reproducible tar (repeatable; mtime $SOURCE_DATE_EPOCH or 0)',
          })
          .option('zstd', { type: 'boolean', default: false, describe: 'compress --blob-dir tars with zstd' })
          .option('blob-attr', {
            type: 'string',
            array: true,
            default: [] as string[],
            describe: 'blob attribute NAME:KEY=VALUE (repeatable)',
          }),
      async (args) => {
        const input: CreateInput = {
          ...createInput(args),
          revision: parseRevision(args.revision),
          description: await description(args),
        };
        out(`${await create(args.store, input, args.quiet)}\n`);
      },
    )
    .command(
      'build <spec>',
      'create an image from a TOML spec file; print the image ID',
      (y) =>
        taught(y, 'build').positional('spec', {
          type: 'string',
          demandOption: true,
          describe: 'spec file (see docs/imagetool.md)',
        }),
      async (args) => {
        const { readSpec } = await import('./spec-file.js');
        const input = await readSpec(args.spec);
        out(`${await create(args.store, input, args.quiet)}\n`);
      },
    )
    .command(
      'verify [ids..]',
      'check the whole store, or the given images and their blobs; exit 1 on any finding',
      (y) =>
        taught(y, 'verify')
          .positional('ids', {
            type: 'string',
            array: true,
            default: [] as string[],
            describe: 'image IDs or unambiguous prefixes',
          })
          .option('trust-cache', {
            type: 'boolean',
            default: false,
            describe: 'do not hash blobs unchanged since they last matched (what supervisors do before a job)',
          })
          .options(jsonOpt),
      async (args) => {
        const store = existingStore(args.store);
        const ids = args.ids.length > 0 ? await resolveAll(store, args.ids) : undefined;
        const [{ verifyStore }, { withProgress }] = await Promise.all([import('./verify.js'), import('./progress.js')]);
        const report = await withProgress('verifying', !args.quiet && !args.json, (bar) =>
          verifyStore(store, ids, { ...bar, trustCache: args['trust-cache'] }),
        );
        const ok = report.findings.length === 0;
        if (report.chainsSkipped !== undefined && !args.quiet)
          process.stderr.write(`tml-imagetool: warning: qcow2 chains not checked: ${report.chainsSkipped}\n`);
        if (args.json) json({ ok, ...report });
        else {
          out(renderFindings(report.findings));
          if (!args.quiet) {
            const cached =
              report.cachedBlobs > 0
                ? `, ${report.cachedBlobs} blob(s) (${formatBytes(report.cachedBytes)}) unchanged since verified`
                : '';
            const chains = report.chains > 0 ? `, ${report.chains} qcow2 chain(s)` : '';
            const checked = `${report.images} image(s), ${report.blobs} blob(s), ${formatBytes(report.bytes)} hashed${cached}${chains}`;
            out(ok ? `ok: ${checked}\n` : `${report.findings.length} problem(s) found; checked ${checked}\n`);
          }
        }
        if (!ok) throw new ExitWith(EXIT.failure);
      },
    )
    .command(
      'index',
      'write all.txt (the file list mirrors fetch), atomically',
      (y) => taught(y, 'index').options(jsonOpt),
      async (args) => {
        const store = existingStore(args.store);
        const { writeIndex } = await import('./all-txt.js');
        const result = await writeIndex(store);
        if (!args.quiet)
          for (const s of result.skipped)
            process.stderr.write(
              `tml-imagetool: warning: left out of all.txt (line break in name): ${JSON.stringify(s)}\n`,
            );
        if (args.json) json(result);
        else if (!args.quiet) out(`wrote all.txt: ${result.files} file(s)\n`);
      },
    )
    .command(
      'list',
      'list images: ID, revision, blob count, total size, label',
      (y) => taught(y, 'list').options(jsonOpt),
      (args) => list(args),
    )
    .command(
      'show <id>',
      "show an image's manifest",
      (y) =>
        taught(y, 'show')
          .positional('id', { type: 'string', demandOption: true, describe: 'image ID or unambiguous prefix' })
          .option('raw', { type: 'boolean', default: false, describe: 'print the manifest bytes as stored' })
          .options(jsonOpt),
      async (args) => {
        if (args.raw && args.json) throw new UsageError('give --raw or --json, not both');
        const store = existingStore(args.store);
        const id = await resolveImageId(store, args.id);
        if (args.raw) {
          // The manifest's own bytes, unchecked: --raw is how one inspects a manifest verify complains about.
          process.stdout.write(await readManifestBytes(store, id));
          return;
        }
        const manifest = await readManifest(store, id);
        if (args.json) json({ id, ...manifest });
        else out(renderManifest(id, manifest));
      },
    )
    .command(
      'copy <ids..>',
      'copy images and their blobs into another store, verifying what is copied',
      (y) =>
        taught(y, 'copy')
          .positional('ids', {
            type: 'string',
            array: true,
            demandOption: true,
            describe: 'image IDs or unambiguous prefixes',
          })
          .option('to', {
            type: 'string',
            demandOption: true,
            describe: 'target store directory (created if missing)',
            coerce: (s: string) => resolve(s),
          })
          .options(jsonOpt),
      async (args) => {
        const store = existingStore(args.store);
        const ids = await resolveAll(store, args.ids);
        const [{ copyImages }, { withProgress }] = await Promise.all([import('./copy.js'), import('./progress.js')]);
        const result = await withProgress('copying', !args.quiet && !args.json, (bar) =>
          copyImages(store, args.to, ids, { ...bar, onWaitForGc: gcWaitNotice(args.quiet || args.json) }),
        );
        if (args.json) json(result);
        else if (!args.quiet) {
          out(result.images.map((id) => `copied ${id}\n`).join(''));
          out(
            `${result.blobsCopied} blob(s) copied (${formatBytes(result.bytesCopied)}), ${result.blobsSkipped} already there\n`,
          );
        }
      },
    )
    .command(
      'gc',
      'remove blobs no manifest references and temporary leftovers',
      (y) =>
        taught(y, 'gc')
          .option('dry-run', {
            alias: 'n',
            type: 'boolean',
            default: false,
            describe: 'only print what would be removed',
          })
          .options(jsonOpt),
      async (args) => {
        const store = existingStore(args.store);
        const { collectGarbage } = await import('./gc.js');
        const result = await collectGarbage(store, { dryRun: args['dry-run'] });
        if (args.json) json(result);
        else {
          const verb = result.dryRun ? 'would remove' : 'removed';
          out(result.removed.map((r) => `${verb} ${r.path} (${formatBytes(r.size)}, ${r.reason})\n`).join(''));
          if (!args.quiet) {
            out(
              `${result.dryRun ? 'would free' : 'freed'} ${formatBytes(result.bytes)} in ${result.removed.length} file(s)\n`,
            );
            if (result.reindexed) out('rewrote all.txt\n');
          }
        }
      },
    )
    .command(
      'pull <url> [ids..]',
      "fetch images (manifest, then blobs) or --all of a mirror's all.txt into the store, verifying every file",
      (y) =>
        taught(y, 'pull')
          .positional('url', {
            type: 'string',
            demandOption: true,
            describe: 'the mirror: http(s)://HOST/PATH of a store',
          })
          .positional('ids', {
            type: 'string',
            array: true,
            default: [] as string[],
            describe: "image IDs (prefixes are resolved through the mirror's all.txt)",
          })
          .option('all', { type: 'boolean', default: false, describe: 'everything all.txt lists' })
          .option('jobs', {
            alias: 'j',
            type: 'number',
            defaultDescription: '4',
            describe: 'downloads in parallel',
          })
          .options(jsonOpt),
      async (args) => {
        if (args.all === args.ids.length > 0) throw new UsageError('give image IDs or --all (one of them)');
        if (args.jobs !== undefined && (!Number.isInteger(args.jobs) || args.jobs < 1 || args.jobs > 64))
          throw new UsageError(`--jobs ${args.jobs}: expected a whole number from 1 to 64`);
        try {
          parseMirrorUrl(args.url);
        } catch (err) {
          throw new UsageError((err as Error).message);
        }
        // The HTTP client is loaded by pull alone: every other command starts faster without it.
        const { pullImages } = await import('./pull.js');
        const { pullProgressBar } = await import('./progress.js');
        const bar = pullProgressBar(!args.quiet && !args.json);
        let result;
        try {
          result = await pullImages(args.store, args.url, args.all ? 'all' : args.ids, {
            jobs: args.jobs,
            ...bar,
            onWaitForGc: gcWaitNotice(args.quiet || args.json),
          });
        } finally {
          bar.stop();
        }
        if (args.json) json(result);
        else {
          out(result.images.map((id) => `pulled ${id}\n`).join(''));
          if (!args.quiet) {
            const extra = [
              result.bytesResumed > 0 ? `${formatBytes(result.bytesResumed)} resumed` : '',
              result.retries > 0 ? `${result.retries} retr${result.retries === 1 ? 'y' : 'ies'}` : '',
            ].filter((x) => x !== '');
            out(
              `${result.images.length} image(s): ${result.blobsFetched} blob(s) fetched (${formatBytes(result.bytesFetched)}), ${result.blobsPresent} already present${extra.length > 0 ? `, ${extra.join(', ')}` : ''}\n`,
            );
            if (result.notPulled.length > 0)
              process.stderr.write(
                `tml-imagetool: warning: ${result.notPulled.length} line(s) of all.txt are not blobs or manifests and were not pulled (first: ${result.notPulled[0]})\n`,
              );
          }
        }
      },
    )
    .command(
      'rm <ids..>',
      'remove images from the store (their blobs go with the next gc)',
      (y) =>
        taught(y, 'rm')
          .positional('ids', {
            type: 'string',
            array: true,
            demandOption: true,
            describe: 'image IDs or unambiguous prefixes',
          })
          .options(jsonOpt),
      async (args) => {
        const store = existingStore(args.store);
        const ids = await resolveAll(store, args.ids);
        const { removeImages } = await import('./remove.js');
        const result = await removeImages(store, ids, { onWaitForGc: gcWaitNotice(args.quiet || args.json) });
        if (args.json) json(result);
        else {
          out(result.removed.map((id) => `removed image ${id}\n`).join(''));
          if (!args.quiet) {
            if (result.imageTxtRemoved) out('removed image.txt (it named a removed image)\n');
            if (result.reindexed) out('rewrote all.txt\n');
            out('run gc to remove blobs no image uses any more\n');
          }
        }
      },
    )
    .command(
      'layer',
      'add a qcow2 overlay on a layered QEMU or netboot base image as a new image; print its ID',
      (y) =>
        taught(y, 'layer')
          .option('base', { type: 'string', demandOption: true, describe: 'base image ID or unambiguous prefix' })
          .option('blob', { type: 'string', demandOption: true, describe: 'qcow2 overlay file (left unmodified)' })
          .option('label', { type: 'string', demandOption: true, describe: 'label of the new image' })
          .option('revision', { type: 'string', describe: 'revision number (default 0)' })
          .option('description', { type: 'string', describe: 'description text' })
          .option('description-file', { type: 'string', describe: 'read the description from a file' })
          .option('boot-dir', {
            type: 'string',
            describe: "netboot images: the new layer's boot partition (default: the base's, carried over)",
          })
          .option('zstd', { type: 'boolean', default: false, describe: 'compress the --boot-dir tar with zstd' }),
      async (args) => {
        if (args.zstd && args['boot-dir'] === undefined)
          throw new UsageError('--zstd compresses the --boot-dir tar; give --boot-dir');
        const store = existingStore(args.store);
        const bootDir = args['boot-dir'] === undefined ? undefined : resolve(args['boot-dir']);
        const input = {
          baseId: await resolveImageId(store, args.base),
          overlayPath: resolve(args.blob),
          label: args.label,
          revision: parseRevision(args.revision),
          description: await description(args),
          bootDir,
          bootCompression: args.zstd ? ('zstd' as const) : undefined,
        };
        const epoch = await sourceDateEpoch(bootDir !== undefined);
        const [{ layerImage }, { withProgress }] = await Promise.all([import('./layer.js'), import('./progress.js')]);
        out(
          `${await withProgress('hashing', !args.quiet, (bar) => layerImage(store, input, { ...bar, onWaitForGc: gcWaitNotice(args.quiet), sourceDateEpoch: epoch }))}\n`,
        );
      },
    )
    .command(
      'completion [shell]',
      'print a completion script for bash or zsh',
      (y) => completionArgs(y, 'tml-imagetool', MANUAL),
      async (args) => {
        out(await completionFromHelp('tml-imagetool', args.shell, cli));
      },
    )
    .demandCommand(1, 'give a command')
    .recommendCommands()
    .strict()
    .help()
    .alias('h', 'help')
    .version('version', 'show the version', `tml-imagetool ${version()}`)
    .alias('version', 'V')
    .wrap(Math.min(110, stdoutColumns() || 80))
    .example(HELP.root!.examples)
    .epilogue(`${exitsText(HELP.root!.exits)}\n\nManual: ${manualPath(MANUAL)}`)
    .fail((msg, err) => {
      if (err) throw err;
      // yargs's own complaints (unknown flag, missing argument) get the pointer; ours name their fix.
      throw new UsageError(`${typingMistake(msg, argv)} (see --help)`);
    }) as unknown as Argv<Common>;
}

const words = hideBin(process.argv);
// verify hashes on worker threads besides this one: they boot while the arguments are parsed. (A
// "verify" that is another command's argument costs an idle worker until the command exits.)
if (words.includes('verify') && !words.includes('--trust-cache') && !words.includes('--help')) bootWorkers();

runCli('tml-imagetool', async () => {
  const listing = plainList(words);
  if (listing) list(listing);
  else await cli(words).parseAsync();
});
