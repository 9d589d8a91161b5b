// Builds the installed CLIs (package.json `bin`, the launchers in bin/) as one file each,
// dist/bin/NAME.js, then runs each for --help and for a command that reads data, so that it leaves
// its two V8 code caches (NAME.js.help.v8cache and NAME.js.v8cache, bin/load-bundle.cjs). Reading
// one file instead of hundreds, and compiled code instead of source, is most of what brings
// `--help` or `tml job status` near `node -e 0` (`npm run bench`, bench/cli-start.ts).
//
// A bundle is an async function expression (bin/load-bundle.cjs runs it through vm.Script, the
// API that takes a code cache, which Node 20 has no other way to use): esbuild writes an ES
// module, and every import of a Node builtin or a native addon becomes a require() call, so none
// is left at its top level. Top-level await still works inside the function. The function is
// written into the file, so that the launcher compiles the file's text as it is read, without
// white space or comments, in ASCII: the launcher reads the whole file at every start, also the
// code only other commands run.
// Usage: node dist/scripts/bundle-bins.js (run by `npm run build` after tsc)

import { spawnSync } from 'node:child_process';
import { build, type Metafile, type Plugin } from 'esbuild';
import { writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { createRequire, isBuiltin } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const OUT_DIR = path.join(ROOT, 'dist', 'bin');

interface Bundle {
  /** The CLI's source. */
  source: string;
  /** The launcher in bin/ that runs this bundle. */
  launcher: string;
  /**
   * The arguments of the run that leaves the code cache for help pages (bin/load-bundle.cjs):
   * it compiles the parser and the help layout.
   */
  help: string[];
  /**
   * The arguments (in a fresh temporary directory DIR) of the run that leaves the cache for every
   * other command: one of the commands scripts run most, which compiles what commands that read
   * data share (opening a database, a store, a connection). Without it, the first such command
   * run where the package is writable leaves it.
   */
  data?: (dir: string, closedPort: number) => { args: string[]; env?: NodeJS.ProcessEnv; status?: number };
  /** Modules of the source's own dynamic imports (`./server.js`) that this bundle leaves out. */
  leaveOut?: string[];
}

/**
 * Each bundle of dist/bin/. tml-switchboard's admin commands (users, tokens, supervisors, a
 * database to migrate) need none of `serve`'s HTTP stack, scheduler and web console: two thirds of
 * the switchboard's code, which a bundle's every start reads and loads the cache of. Its launcher
 * runs `serve` from a bundle of everything (bin/tml-switchboard.cjs).
 */
export const BUNDLES: Record<string, Bundle> = {
  'tml-imagetool': {
    source: 'imagetool/cli.ts',
    launcher: 'tml-imagetool',
    help: ['--help'],
    data: (dir) => ({ args: ['list', '--store', dir] }),
  },
  'tml-puppet': {
    source: 'puppet/cli.ts',
    launcher: 'tml-puppet',
    help: ['--help'],
    data: (dir) => {
      writeFileSync(path.join(dir, 'board'), 'warm-up');
      return { args: ['parameter', 'get', 'board'], env: { TML_PARAMETERS_DIR: dir } };
    },
  },
  'tml-supervisor': {
    source: 'supervisor/cli.ts',
    launcher: 'tml-supervisor',
    help: ['--help'],
    data: () => ({ args: ['--version'] }),
  },
  'tml-switchboard': {
    source: 'switchboard/cli.ts',
    launcher: 'tml-switchboard',
    help: ['--help'],
    data: (dir) => ({ args: ['supervisor', 'list', '--db', path.join(dir, 'switchboard.db')] }),
    leaveOut: ['./server.js'],
  },
  'tml-switchboard-serve': { source: 'switchboard/cli.ts', launcher: 'tml-switchboard', help: ['serve', '--help'] },
  tml: {
    source: 'tml/cli.ts',
    launcher: 'tml',
    help: ['--help'],
    // No switchboard answers at build time: the connection is refused (exit 1), after the client
    // has loaded. The token is well-formed, so that the run gets that far.
    data: (_dir, closedPort) => ({
      args: ['job', 'status', '00000000-0000-4000-8000-000000000000'],
      env: {
        TML_SWITCHBOARD_URL: `http://127.0.0.1:${closedPort}`,
        TML_API_TOKEN: Buffer.alloc(128).toString('base64'),
      },
      status: 1,
    }),
  },
};

/** Native addons load their .node file from their own package directory: they stay in node_modules. */
const NATIVE = new Set(['zstd-napi']);

/**
 * Builtins whose export is a function, yet which their importers here use only through its
 * properties or by calling it (yargs asserts with `notStrictEqual` at start-up; loading node:assert
 * builds its colours and so process.stderr): a forwarding function stands in, with a forwarding
 * function for each plain function property and a getter for the rest (classes such as
 * AssertionError, `strict`), and loads the module when it is first needed. An assertion that holds
 * needs nothing of the module (PASSES).
 */
const CALLED_ONLY = new Set(['assert', 'node:assert']);
const FUNCTION_OWN = new Set(['length', 'name', 'prototype']);
/** The condition under which each of these assertions returns without doing anything else. */
const PASSES: Record<string, string> = {
  strictEqual: 'args.length >= 2 && Object.is(args[0], args[1])',
  notStrictEqual: 'args.length >= 2 && !Object.is(args[0], args[1])',
};

/**
 * The exports objects of the modules requiredModule() writes, whose properties never change: all
 * the ES modules that import one can share one interop object (sharedInterop). A wrapper of
 * getters is one already (OWN_INTEROP): its `default` is itself, as esbuild's would be.
 */
const FIXED = '__tmlFixedExports';
const OWN_INTEROP = '__tmlOwnInterop';

/**
 * The module a builtin or native addon import becomes: `require(ID)`, done when one of its
 * exports is first read rather than when the bundle starts, so that a command loads node:crypto,
 * worker_threads, zstd or SQLite only if it uses them. (esbuild's import interop reads exports
 * through getters, so the getters here are reached only where the code uses the value.) A module
 * whose exports are a function or class (node:events, better-sqlite3) is required at once: a
 * default import of it must be the function itself; but one with GIVEN exports (node:module) is a
 * stand-in for its ES module importers too, whose default import is a getter of the function.
 */
function requiredModule(id: string): string {
  const actual: unknown = createRequire(path.join(ROOT, 'package.json'))(id);
  const load = `require(${JSON.stringify(id)})`;
  if (CALLED_ONLY.has(id)) {
    const own = (value: object) => Object.getOwnPropertyNames(value).filter((n) => !FUNCTION_OWN.has(n));
    const plainFunction = (value: unknown) =>
      typeof value === 'function' &&
      !/^class\b/.test(Function.prototype.toString.call(value)) &&
      own(value).length === 0;
    const forward = (n: string) => {
      const key = JSON.stringify(n);
      return plainFunction((actual as Record<string, unknown>)[n])
        ? `module.exports[${key}] = function (...args) { ${n in PASSES ? `if (${PASSES[n]}) return;` : ''}return (actual ??= ${load})[${key}].apply(this, args); };`
        : `Object.defineProperty(module.exports, ${key}, { enumerable: true, get: () => (actual ??= ${load})[${key}] });`;
    };
    return [
      'let actual;',
      `module.exports = function (...args) { return (actual ??= ${load}).apply(this, args); };`,
      ...own(actual as object).map(forward),
      `${FIXED}.add(module.exports);`,
    ].join('\n');
  }
  const given = GIVEN[id];
  if (given === undefined && (typeof actual === 'function' || actual === null || typeof actual !== 'object'))
    return `module.exports = ${load};\n${FIXED}.add(module.exports);`;
  const whole = typeof actual === 'function';
  const names = Object.getOwnPropertyNames(actual).filter((n) => n !== '__esModule' && !(whole && FUNCTION_OWN.has(n)));
  const property = (n: string) =>
    given !== undefined && n in given
      ? `{ enumerable: true, value: ${given[n]} }`
      : `{ enumerable: true, get: () => (actual ??= ${load})[${JSON.stringify(n)}] }`;
  return [
    'let actual;',
    ...names.map((n) => `Object.defineProperty(exports, ${JSON.stringify(n)}, ${property(n)});`),
    // its own ES module interop object: a default import is the exports object, as __toESM makes it
    ...(names.includes('default')
      ? [`${FIXED}.add(exports);`]
      : [
          `Object.defineProperty(exports, 'default', { enumerable: true, ${whole ? `get: () => (actual ??= ${load})` : 'value: exports'} });`,
          `${OWN_INTEROP}.add(exports);`,
        ]),
  ].join('\n');
}

/**
 * Exports the launcher hands the bundle (bin/load-bundle.cjs), so that using them loads nothing:
 * createRequire is the CommonJS loader's own, which yargs and yargs-parser call as they load, and
 * node:module would load the ES module loader with it. A require() of one gets the module itself:
 * the stand-in is for ES module imports, whose default import it answers with a getter.
 */
const GIVEN: Record<string, Record<string, string>> = { 'node:module': { createRequire: '__tmlCreateRequire' } };

/**
 * esbuild's interop for an ES module importing a CommonJS one (`__toESM`) copies every export
 * into a new object at each import: node:fs's hundred getters for each of the dozens of modules
 * that import it, some milliseconds of each start. For an exports object in FIXED the copy is
 * the same every time, so the first one is kept and handed to every later import in the same mode;
 * one in OWN_INTEROP is handed over itself.
 */
const ESBUILD_TO_ESM =
  'var __toESM=(mod,isNodeMode,target)=>(target=mod!=null?__create(__getProtoOf(mod)):{},__copyProps(isNodeMode||!mod||!mod.__esModule?__defProp(target,"default",{value:mod,enumerable:true}):target,mod));';
const SHARED_TO_ESM = [
  ESBUILD_TO_ESM.replace('var __toESM=', 'var __copyToESM='),
  'var __sharedESM=[new WeakMap,new WeakMap];',
  `var __toESM=(mod,isNodeMode)=>{if(${OWN_INTEROP}.has(Object(mod)))return mod;`,
  `if(!${FIXED}.has(Object(mod)))return __copyToESM(mod,isNodeMode);`,
  'const shared=__sharedESM[isNodeMode?1:0];let target=shared.get(mod);',
  'if(target===undefined)shared.set(mod,target=__copyToESM(mod,isNodeMode));return target};',
].join('');

function sharedInterop(name: string, code: string): string {
  const fixed = `var ${FIXED}=new WeakSet,${OWN_INTEROP}=new WeakSet;`;
  if (code.includes(ESBUILD_TO_ESM)) return fixed + code.replace(ESBUILD_TO_ESM, SHARED_TO_ESM);
  if (code.includes('__toESM('))
    throw new Error(`dist/bin/${name}.js: esbuild's __toESM is not the one expected (a new esbuild?)`);
  return fixed + code;
}

/** Builtins and native addons are loaded with the function's `require` (bin/load-bundle.cjs). */
const required: Plugin = {
  name: 'required',
  setup(b) {
    b.onResolve({ filter: /.*/ }, (args) => {
      if (args.namespace === 'required' || args.namespace === 'required-whole')
        return { path: args.path, external: true };
      // node:fs and fs are one module
      if (isBuiltin(args.path)) {
        const id = `node:${args.path.replace(/^node:/, '')}`;
        // a require() of a GIVEN module gets the module itself (pino's of node:module, in serve's bundle)
        if (id in GIVEN && args.kind === 'require-call') return { path: id, namespace: 'required-whole' };
        return { path: id, namespace: 'required' };
      }
      if (NATIVE.has(args.path)) return { path: args.path, namespace: 'required' };
      return undefined;
    });
    b.onLoad({ filter: /.*/, namespace: 'required' }, (args) => ({
      contents: requiredModule(args.path),
      loader: 'js',
    }));
    b.onLoad({ filter: /.*/, namespace: 'required-whole' }, (args) => ({
      contents: `module.exports = require(${JSON.stringify(args.path)});`,
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
      return {
        contents: withOwnImportMeta(args.path, source),
        loader: args.path.endsWith('.ts') ? 'ts' : 'js',
        resolveDir: path.dirname(args.path),
      };
    });
  },
};

/** The source of `file` with each `import.meta` replaced as ownImportMeta replaces it. */
function withOwnImportMeta(file: string, source: string): string {
  const relative = path.relative(ROOT, file);
  const twin = relative.startsWith('node_modules') ? file : path.join(ROOT, 'dist', relative.replace(/\.ts$/, '.js'));
  const url = path.relative(OUT_DIR, twin).split(path.sep).join('/');
  return source.replaceAll('import.meta', `__tmlMeta(${JSON.stringify(url)})`);
}

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

/**
 * better-sqlite3 is bundled like any package but for its addon, which it finds through the
 * `bindings` package: that walks a list of candidate paths and reads a stack trace to find the
 * package's directory, several milliseconds of `tml-switchboard`'s admin commands. The addon
 * bindings would pick is found here, at build time; the bundle requires it from the package's
 * directory as resolved where it runs.
 */
const directAddons: Plugin = {
  name: 'direct-addons',
  setup(b) {
    b.onResolve({ filter: /^bindings$/ }, (args) => {
      const pkg = /^(.*[\\/]node_modules[\\/]better-sqlite3)[\\/]/.exec(args.importer);
      return pkg ? { path: pkg[1]!, namespace: 'direct-addon' } : undefined;
    });
    b.onLoad({ filter: /.*/, namespace: 'direct-addon' }, (args) => {
      const bindings = createRequire(path.join(args.path, 'package.json'))('bindings') as (opts: object) => string;
      const found = bindings({ bindings: 'better_sqlite3.node', module_root: args.path, path: true });
      const inPackage = path.relative(args.path, found).split(path.sep).join('/');
      return {
        contents: [
          "const { dirname, join } = require('node:path');",
          'module.exports = () =>',
          `  require(join(dirname(require.resolve('better-sqlite3/package.json')), ${JSON.stringify(inPackage)}));`,
        ].join('\n'),
        loader: 'js',
      };
    });
  },
};

/**
 * yargs lays out the --help page of the command it runs once the handler has started, in case a
 * later failure shows help (about 3 ms of every command). Every CLI here fails through its own
 * .fail() handler, which never shows help, and none calls showHelp(): the bundles skip it.
 */
const noCachedHelp: Plugin = {
  name: 'no-cached-help',
  setup(b) {
    b.onLoad({ filter: /[\\/]node_modules[\\/]yargs[\\/]build[\\/]lib[\\/]command\.js$/ }, async (args) => {
      const source = await readFile(args.path, 'utf8');
      const call = 'yargs.getInternalMethods().getUsageInstance().cacheHelpMessage();';
      if (!source.includes(call)) throw new Error(`${args.path}: no cacheHelpMessage() call to skip (a new yargs?)`);
      return { contents: source.replace(call, ''), loader: 'js' };
    });
  },
};

/**
 * wrap-ansi, which lays out every help cell, rebuilds the wrapped text one code point at a time
 * to carry ANSI colours and links across line breaks, looking up a colour code for each: most of
 * the time a long --help page takes to lay out. Text without an escape character comes out of that
 * loop as it went in, so the bundles return it at once.
 */
const plainTextWraps: Plugin = {
  name: 'plain-text-wraps',
  setup(b) {
    b.onLoad({ filter: /[\\/]node_modules[\\/]wrap-ansi[\\/]index\.js$/ }, async (args) => {
      const source = await readFile(args.path, 'utf8');
      const loop = 'const pre = [...preString];';
      if (!source.includes(loop)) throw new Error(`${args.path}: no escape-carrying loop to skip (a new wrap-ansi?)`);
      const plain = "if (!preString.includes('\\u001B') && !preString.includes('\\u009B')) return preString;";
      return { contents: source.replace(loop, `${plain}\n${loop}`), loader: 'js' };
    });
  },
};

/**
 * yargs creates process.stdout and process.stderr before it prints help or the version: it reads
 * the terminal's width as it loads (platform-shims/esm.mjs; cliui too, when given no width), makes
 * a terminal's writes blocking before it exits (utils/set-blocking.js), and prints with
 * console.log. Each stream loads
 * node:stream, and a pipe node:net too: 5-10 ms of those commands. The bundles have yargs ask
 * protocol/stdout.ts, which creates neither where it is no terminal and does what yargs did where
 * it is one. (What yargs prints comes after nothing of ours, so writing it at once keeps the order.)
 */
const STDIO_EDITS: Array<{ file: RegExp; from: string; to: string }> = [
  {
    file: /[\\/]yargs[\\/]lib[\\/]platform-shims[\\/]esm\.mjs$/,
    from: "stdColumns: typeof process.stdout.columns !== 'undefined' ? process.stdout.columns : null",
    to: 'get stdColumns() { return __tmlStdout.stdoutColumns() ?? null; }',
  },
  {
    file: /[\\/]yargs[\\/]build[\\/]lib[\\/]utils[\\/]set-blocking\.js$/,
    from: '[process.stdout, process.stderr].forEach(',
    to: '[1, 2].flatMap((fd) => (__tmlStdout.isNoTerminal(fd) ? [] : [fd === 1 ? process.stdout : process.stderr])).forEach(',
  },
  {
    file: /[\\/]yargs[\\/]build[\\/]lib[\\/]yargs-factory\.js$/,
    from: 'console.log(...args);',
    to: "args.length === 1 && typeof args[0] === 'string' ? __tmlStdout.printLine(args[0]) : console.log(...args);",
  },
  {
    file: /[\\/]cliui[\\/]build[\\/]lib[\\/]index\.js$/,
    from: 'process.stdout && process.stdout.columns) {',
    to: '__tmlStdout.stdoutColumns()) {',
  },
];

const stdioWithoutStreams: Plugin = {
  name: 'stdio-without-streams',
  setup(b) {
    const stdout = JSON.stringify(path.join(ROOT, 'protocol', 'stdout.ts'));
    b.onLoad({ filter: /[\\/]node_modules[\\/](yargs|cliui)[\\/]/ }, async (args) => {
      const edit = STDIO_EDITS.find((e) => e.file.test(args.path));
      if (!edit) return undefined;
      const source = await readFile(args.path, 'utf8');
      if (!source.includes(edit.from)) throw new Error(`${args.path}: no "${edit.from}" to replace (a new yargs?)`);
      const edited = `import * as __tmlStdout from ${stdout};\n${source.replace(edit.from, edit.to)}`;
      return { contents: withOwnImportMeta(args.path, edited), loader: 'js' };
    });
  },
};

/**
 * The bundle in ASCII, which the launcher reads as Latin-1: a copy of the bytes, where UTF-8 text must
 * be decoded, and one byte per character in memory, where one character beyond Latin-1 doubles the
 * string (the web console's "—"). esbuild escapes every other character already, but for those in
 * comments and template literals, whose raw text a tag function may read: here they are escaped
 * (\uXXXX per UTF-16 unit), which leaves a template's cooked strings as they were, and the tags of
 * these bundles (the web console's html) read those. String.raw would see the difference: a
 * String.raw template with such a character stops the build.
 */
function asciiOnly(name: string, code: string): string {
  if (/String\.raw`[^`]*[^\0-\x7f]/.test(code)) throw new Error(`dist/bin/${name}.js: String.raw of non-ASCII text`);
  return code.replace(/[^\0-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** An import or export statement left at the top level could not run inside a function. */
function assertFunctionBody(name: string, output: Metafile['outputs'][string]): void {
  const imported = output.imports.find((i) => i.kind === 'import-statement');
  if (imported) throw new Error(`dist/bin/${name}.js: a top-level import of ${imported.path} is left`);
  if (output.exports.length > 0) throw new Error(`dist/bin/${name}.js: a top-level export is left`);
}

/**
 * The modules `leaveOut` names, imported by `source`, as a module whose loading fails: the
 * launcher never runs this bundle for a command that imports one (a run that did would say so).
 */
function leftOut(name: string, source: string, leaveOut: string[]): Plugin {
  return {
    name: 'left-out',
    setup(b) {
      b.onResolve({ filter: /^\.\// }, (args) =>
        leaveOut.includes(args.path) && args.importer === path.join(ROOT, source)
          ? { path: args.path, namespace: 'left-out' }
          : undefined,
      );
      b.onLoad({ filter: /.*/, namespace: 'left-out' }, (args) => ({
        contents: `throw new Error(${JSON.stringify(`dist/bin/${name}.js leaves out ${args.path}: its launcher should not have run it for this command`)});`,
        loader: 'js',
      }));
    },
  };
}

/** A loopback port nothing listens on (one just let go): a connection to it is refused at once. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

await rm(OUT_DIR, { recursive: true, force: true });
await mkdir(OUT_DIR, { recursive: true });
for (const [name, { source, launcher, help, data, leaveOut = [] }] of Object.entries(BUNDLES)) {
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: [source],
    outfile: path.join(OUT_DIR, `${name}.js`),
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    plugins: [
      leftOut(name, source, leaveOut),
      required,
      directAddons,
      noCachedHelp,
      plainTextWraps,
      stdioWithoutStreams,
      ownImportMeta,
      lazyStringWidth,
    ],
    logLevel: 'warning',
    write: false,
    metafile: true,
    minifyWhitespace: true,
    legalComments: 'eof',
  });
  const [output] = result.outputFiles;
  // the entry's shebang line: the launcher in bin/ is what runs
  const code = sharedInterop(name, asciiOnly(name, output!.text.replace(/^#!.*\n/, '')));
  assertFunctionBody(name, Object.values(result.metafile.outputs)[0]!);
  // on the first line, so that line numbers in stack traces are the file's
  await writeFile(output!.path, `(async function (require, __tmlMeta, __tmlCreateRequire) {'use strict';${code}\n})`);
  // The first run of each kind writes its code cache (bin/load-bundle.cjs). A run that ends
  // otherwise than expected (a usage error) stopped before the code it was to warm.
  const run = (args: string[], env: NodeJS.ProcessEnv = {}, status = 0) => {
    const r = spawnSync(process.execPath, [path.join(ROOT, 'bin', `${launcher}.cjs`), ...args], {
      stdio: ['ignore', 'ignore', 'pipe'],
      encoding: 'utf8',
      env: { ...process.env, ...env },
    });
    if (r.status !== status)
      throw new Error(`warming ${name}: ${launcher} ${args.join(' ')} exited ${r.status}: ${r.stderr.trim()}`);
  };
  run(help);
  if (data) {
    const dir = await mkdtemp(path.join(tmpdir(), 'tml-warm-up-'));
    try {
      const { args, env, status } = data(dir, await closedPort());
      run(args, env, status);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
}
