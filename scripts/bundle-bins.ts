// Builds the installed CLIs (package.json `bin`, the launchers in bin/) as one file each,
// dist/bin/NAME.js, then runs each once so it leaves its V8 code cache, NAME.js.v8cache. Reading
// one file instead of hundreds, and compiled code instead of source, is most of what brings
// `--help` or `tml job status` near `node -e 0` (`npm run bench`, bench/cli-start.ts).
//
// A bundle is the body of an async function (bin/load-bundle.cjs runs it through vm.Script, the
// API that takes a code cache, which Node 20 has no other way to use): esbuild writes an ES
// module, and every import of a Node builtin or a native addon becomes a require() call, so none
// is left at its top level. Top-level await still works inside the function.
// Usage: node dist/scripts/bundle-bins.js (run by `npm run build` after tsc)

import { execFileSync } from 'node:child_process';
import { build, type Plugin } from 'esbuild';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire, isBuiltin } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const OUT_DIR = path.join(ROOT, 'dist', 'bin');

/** Each installed command, and its source. */
export const BINS: Record<string, string> = {
  'tml-imagetool': 'imagetool/cli.ts',
  'tml-puppet': 'puppet/cli.ts',
  'tml-supervisor': 'supervisor/cli.ts',
  'tml-switchboard': 'switchboard/cli.ts',
  tml: 'tml/cli.ts',
};

/** Native addons load their .node file from their own package directory: they stay in node_modules. */
const NATIVE = new Set(['better-sqlite3', 'zstd-napi']);

/**
 * The module a builtin or native addon import becomes: `require(ID)`, done when one of its
 * exports is first read rather than when the bundle starts, so that a command loads node:crypto,
 * worker_threads, zstd or SQLite only if it uses them. (esbuild's import interop reads exports
 * through getters, so the getters here are reached only where the code uses the value.) A module
 * whose exports are a function or class (node:events, better-sqlite3) is required at once: a
 * default import of it must be the function itself.
 */
function requiredModule(id: string): string {
  const actual: unknown = createRequire(path.join(ROOT, 'package.json'))(id);
  const load = `require(${JSON.stringify(id)})`;
  if (typeof actual === 'function' || actual === null || typeof actual !== 'object') return `module.exports = ${load};`;
  const names = Object.getOwnPropertyNames(actual).filter((n) => n !== '__esModule');
  return [
    'let actual;',
    ...names.map(
      (n) =>
        `Object.defineProperty(exports, ${JSON.stringify(n)}, { enumerable: true, get: () => (actual ??= ${load})[${JSON.stringify(n)}] });`,
    ),
  ].join('\n');
}

/** Builtins and native addons are loaded with the function's `require` (bin/load-bundle.cjs). */
const required: Plugin = {
  name: 'required',
  setup(b) {
    b.onResolve({ filter: /.*/ }, (args) => {
      if (args.namespace === 'required') return { path: args.path, external: true };
      if (isBuiltin(args.path) || NATIVE.has(args.path)) return { path: args.path, namespace: 'required' };
      return undefined;
    });
    b.onLoad({ filter: /.*/, namespace: 'required' }, (args) => ({
      contents: requiredModule(args.path),
      loader: 'js',
    }));
  },
};

/**
 * Each bundled module keeps the `import.meta.url` of the file it was bundled from (for our
 * sources, its tsc-built twin under dist/), given as a path relative to the bundle so that the
 * package can move: `__tmlMeta(PATH)` (bin/load-bundle.cjs) answers `url` and `resolve()`. So
 * every file found relative to a module (docs/tml.md, package.json, the web console's static/,
 * the hash and checkpoint worker files, dist/tml-puppet.mjs, yargs' locales) is the same file for
 * the bundled and the unbundled CLI.
 */
const ownImportMeta: Plugin = {
  name: 'own-import-meta',
  setup(b) {
    b.onLoad({ filter: /\.(ts|js|mjs)$/ }, async (args) => {
      const source = await readFile(args.path, 'utf8');
      if (!source.includes('import.meta')) return undefined;
      const relative = path.relative(ROOT, args.path);
      const twin = relative.startsWith('node_modules')
        ? args.path
        : path.join(ROOT, 'dist', relative.replace(/\.ts$/, '.js'));
      const url = path.relative(OUT_DIR, twin).split(path.sep).join('/');
      return {
        contents: source.replaceAll('import.meta', `__tmlMeta(${JSON.stringify(url)})`),
        loader: args.path.endsWith('.ts') ? 'ts' : 'js',
        resolveDir: path.dirname(args.path),
      };
    });
  },
};

/**
 * yargs and its cliui measure every help cell with string-width, whose module builds an
 * Intl.Segmenter and a `\p{RGI_Emoji}` regular expression when it loads: about 25 ms, a third of
 * Node's own start-up. Help text is ASCII, where every string-width version here answers the
 * number of printable characters (controls such as newlines count 0; only ESC, which starts an
 * ANSI sequence, needs the real thing). This wrapper answers that case itself and loads the real
 * module (the version the importer resolves) for any other string.
 */
const lazyStringWidth: Plugin = {
  name: 'lazy-string-width',
  setup(b) {
    const inner = Symbol('the real string-width');
    b.onResolve({ filter: /^string-width$/ }, async (args) => {
      // CommonJS users (cli-progress) have string-width 4, which loads nothing costly
      if (args.pluginData === inner || args.kind !== 'import-statement') return undefined;
      const real = await b.resolve(args.path, { kind: args.kind, resolveDir: args.resolveDir, pluginData: inner });
      if (real.errors.length > 0) return { errors: real.errors };
      return { path: real.path, namespace: 'lazy-string-width' };
    });
    b.onLoad({ filter: /.*/, namespace: 'lazy-string-width' }, (args) => ({
      contents: [
        'let real;',
        'export default function stringWidth(input, options) {',
        "  if (typeof input === 'string' && /^[\\0-\\x1a\\x1c-\\x7f]*$/.test(input))",
        "    return input.replace(/[^\\x20-\\x7e]/g, '').length;",
        `  real ??= require(${JSON.stringify(args.path)}).default;`,
        '  return real(input, options);',
        '}',
      ].join('\n'),
      loader: 'js',
      resolveDir: path.dirname(args.path),
    }));
  },
};

/** An import or export statement left at the top level could not run inside a function. */
function assertFunctionBody(name: string, code: string): void {
  const statement = /^(import\s*[\w{*"']|export\s)/m.exec(code);
  if (statement) throw new Error(`dist/bin/${name}.js: a top-level ${statement[1]!.trim()} statement is left`);
}

await rm(OUT_DIR, { recursive: true, force: true });
await mkdir(OUT_DIR, { recursive: true });
for (const [name, source] of Object.entries(BINS)) {
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: [source],
    outfile: path.join(OUT_DIR, `${name}.js`),
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    plugins: [required, ownImportMeta, lazyStringWidth],
    logLevel: 'warning',
    write: false,
  });
  const [output] = result.outputFiles;
  // the entry's shebang line: the launcher in bin/ is what runs
  const code = output!.text.replace(/^#!.*\n/, '');
  assertFunctionBody(name, code);
  await writeFile(output!.path, code);
  // The first run writes the code cache (bin/load-bundle.cjs); --help compiles the parser and
  // the start-up path that every command shares.
  execFileSync(process.execPath, [path.join(ROOT, 'bin', `${name}.cjs`), '--help'], { stdio: 'ignore' });
}
