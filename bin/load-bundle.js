// Loads dist/cli.cjs (scripts/bundle.js) with a code cache: with oclif and the
// commands in one file, compiling that file is a large part of what start-up
// has left. Node 22.1+ has its own (module.enableCompileCache); Node 20 gets
// V8's code cache the way v8-compile-cache does it.
//
// The cache lives in the user's cache directory ($XDG_CACHE_HOME/xmppctl, else
// ~/.cache/xmppctl), never beside the bundle: a system-wide or read-only
// installation cannot be written, and one user's cache must not be another's.
// Without a usable cache directory the CLI runs uncached and says nothing.
//
// Memory is handled with care: on a first touch every 4 KiB page costs a
// page fault, which on virtual machines is often ~15 µs, so each needless
// megabyte costs ~4 ms.
const {closeSync, fstatSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, renameSync, rmSync, writeFileSync} = require('node:fs')
const Module = require('node:module')
const {homedir} = require('node:os')
const path = require('node:path')
const vm = require('node:vm')

/** The bundle's exports: oclif's, COMMANDS and the prerun hook. */
exports.loadBundle = function loadBundle(filename) {
  const cacheDir = userCacheDirectory()
  if (typeof Module.enableCompileCache === 'function') {
    // Node's cache is keyed by the file's content and Node's version, and written at exit.
    if (cacheDir) Module.enableCompileCache(cacheDir)
    return require(filename)
  }

  const buffer = readFileSync(filename)
  // latin1 makes a one-byte string, quicker to make and to compile; scripts/bundle.js keeps the file ASCII.
  const source = buffer.toString('latin1')
  // V8 accepts a cache made for any source of the same length, so a rebuilt bundle could run stale
  // bytecode: scripts/bundle.js ends the bundle with a hash of its content, and the cache is named by
  // it, and by Node's version, whose V8 would reject another's cache (and rewrite it on every run).
  const hash = /\/\/# xmppctl-bundle ([0-9a-f]+)\s*$/.exec(source.slice(-100))?.[1]
  const cacheFile = hash && cacheDir && path.join(cacheDir, `cli-${hash}-${process.version}.cache`)
  const cachedData = cacheFile && readCache(cacheFile, buffer)

  // The bundle is a function expression taking CommonJS's arguments plus the import() it calls instead
  // of its own (scripts/bundle.js); bare specifiers resolve the same from here as from dist/.
  const script = new vm.Script(source, {filename, cachedData})
  const module = new Module(filename)
  module.filename = filename
  const bundleRequire = Module.createRequire(filename)
  // oclif require()s the bundle to find the commands and the hook: it must get these exports, not load a second copy.
  bundleRequire.cache[filename] = module
  const importModule = (specifier) => import(specifier)
  script.runInThisContext().call(module.exports, module.exports, bundleRequire, module, filename, path.dirname(filename), importModule)
  module.loaded = true

  if (cacheFile && (cachedData === undefined || script.cachedDataRejected)) {
    // At exit, so that the functions this command compiled on first use are in the cache too.
    process.once('exit', () => writeCache(cacheFile, script))
  }

  return module.exports
}

/** $XDG_CACHE_HOME/xmppctl, else ~/.cache/xmppctl; undefined when neither can be named. */
function userCacheDirectory() {
  // The XDG base directory specification ignores a relative XDG_CACHE_HOME.
  const xdg = process.env.XDG_CACHE_HOME
  if (xdg && path.isAbsolute(xdg)) return path.join(xdg, 'xmppctl')
  let home
  try {
    home = homedir()
  } catch {
    return undefined
  }

  return home && path.isAbsolute(home) ? path.join(home, '.cache', 'xmppctl') : undefined
}

/** The cache, read into `spare` (the source's bytes, no longer needed) when it fits; undefined if there is none. */
function readCache(cacheFile, spare) {
  let fd
  try {
    fd = openSync(cacheFile, 'r')
    const {size} = fstatSync(fd)
    const buffer = size <= spare.length ? spare : Buffer.allocUnsafe(size)
    let length = 0
    for (let read = -1; read !== 0 && length < size; length += read) read = readSync(fd, buffer, length, size - length, length)
    return buffer.subarray(0, length)
  } catch {
    // No cache yet: this run writes it.
    return undefined
  } finally {
    if (fd !== undefined) closeSync(fd)
  }
}

function writeCache(cacheFile, script) {
  const dir = path.dirname(cacheFile)
  // Written aside and renamed, so that a command starting meanwhile reads either no cache or a whole one.
  const temporary = `${cacheFile}.${process.pid}.tmp`
  try {
    mkdirSync(dir, {recursive: true, mode: 0o700})
    writeFileSync(temporary, script.createCachedData(), {mode: 0o600})
    renameSync(temporary, cacheFile)
    // The caches of earlier builds for this Node version: an upgrade would otherwise leave one behind each time.
    const suffix = `-${process.version}.cache`
    for (const file of readdirSync(dir)) if (file.startsWith('cli-') && file.endsWith(suffix) && file !== path.basename(cacheFile)) rmSync(path.join(dir, file), {force: true})
  } catch {
    try {
      rmSync(temporary, {force: true})
    } catch {
      // Read-only, or gone: nothing to clean up.
    }
  }
}
