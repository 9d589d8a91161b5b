// Runs a CLI bundle of dist/bin/ (built by scripts/bundle-bins.ts) as the main program, with its
// V8 code cache: the compiled code of a previous run, so that a command starts without compiling
// what it runs. vm.Script is the API that takes a code cache on every Node version (Node 20 has
// no module compile cache). A cache that this Node rejects (another version, other V8 flags) is
// written anew at exit where the directory is writable, else the bundle is compiled as usual.
//
// A bundle has two caches: NAME.js.help.v8cache, left by a --help run, for help pages, and
// NAME.js.v8cache, left by a command that reads data, for every other command line. Each holds
// what its run compiled: a help page needs the help layout and none of the database, a data
// command the other way round.
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');
const { pathToFileURL } = require('node:url');
// The CommonJS loader's own class: requiring node:module instead loads the ES module loader too.
const { createRequire } = module.constructor;

/** The code cache, written whole (temporary file, then rename) or not at all. */
function writeCache(file, script) {
  const temporary = `${file}.${process.pid}.tmp`;
  try {
    fs.writeFileSync(temporary, script.createCachedData());
    fs.renameSync(temporary, file);
  } catch {
    // a read-only installation: the bundle runs without a cache
    fs.rmSync(temporary, { force: true });
  }
}

function readCache(file) {
  try {
    return fs.readFileSync(file);
  } catch {
    return undefined; // none yet: a run writes it
  }
}

/** The cache file for this command line, and its contents if there is one. */
function cacheFor(file) {
  const args = process.argv.slice(2);
  const help = args.length === 0 || args.includes('--help') || args.includes('-h');
  const cacheFile = help ? `${file}.help.v8cache` : `${file}.v8cache`;
  return { cacheFile, cachedData: readCache(cacheFile) };
}

/**
 * Runs dist/bin/NAME.js, whose modules see `import.meta` as `__tmlMeta(THEIR PATH)` and node:module's
 * createRequire as `__tmlCreateRequire`.
 */
module.exports = function runBundle(name) {
  const file = path.join(__dirname, '..', 'dist', 'bin', `${name}.js`);
  const { cacheFile, cachedData } = cacheFor(file);
  // the file is one function expression in ASCII (scripts/bundle-bins.ts), compiled as read
  const script = new vm.Script(fs.readFileSync(file, 'latin1'), { filename: file, cachedData });
  if (cachedData === undefined || script.cachedDataRejected) process.once('exit', () => writeCache(cacheFile, script));
  const bundleUrl = pathToFileURL(file);
  const meta = (relative) => {
    const url = new URL(relative, bundleUrl).href;
    return { url, resolve: (specifier) => pathToFileURL(createRequire(url).resolve(specifier)).href };
  };
  // A rejection is unhandled, as a failing top-level await of an ES module is: Node prints it, exit 1.
  script.runInThisContext()(createRequire(file), meta, createRequire);
};
