// Loads dist/cli.cjs (scripts/bundle.js) with V8's code cache, the way
// v8-compile-cache does: Node 20 has no module.enableCompileCache, and with
// oclif and the commands in one file, compiling that file is a large part of
// what start-up has left. The cache is written beside the bundle, best
// effort: a read-only installation runs without one, and says nothing.
//
// Memory is handled with care: on a first touch every 4 KiB page costs a
// page fault, which on virtual machines is often ~15 µs, so each needless
// megabyte costs ~4 ms.
const {closeSync, fstatSync, openSync, readFileSync, readSync, renameSync, rmSync, writeFileSync} = require('node:fs')
const Module = require('node:module')
const path = require('node:path')
const vm = require('node:vm')

/** The bundle's exports: oclif's, COMMANDS and the prerun hook. */
exports.loadBundle = function loadBundle(filename) {
  const buffer = readFileSync(filename)
  // latin1 makes a one-byte string, quicker to make and to compile; scripts/bundle.js keeps the file ASCII.
  const source = buffer.toString('latin1')
  // V8 accepts a cache made for any source of the same length, so a rebuilt bundle could run stale
  // bytecode: scripts/bundle.js ends the bundle with a hash of its content, and the cache is named by it.
  const hash = /\/\/# xmppctl-bundle ([0-9a-f]+)\s*$/.exec(source.slice(-100))?.[1]
  const cacheFile = hash && path.join(path.dirname(filename), `cli-${hash}.cache`)
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
  // Written aside and renamed, so that a command starting meanwhile reads either no cache or a whole one.
  const temporary = `${cacheFile}.${process.pid}.tmp`
  try {
    writeFileSync(temporary, script.createCachedData())
    renameSync(temporary, cacheFile)
  } catch {
    try {
      rmSync(temporary, {force: true})
    } catch {
      // Read-only, or gone: nothing to clean up.
    }
  }
}
