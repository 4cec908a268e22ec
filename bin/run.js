#!/usr/bin/env node
// CommonJS (bin/package.json): an ES module entry point would cost every
// command Node's ES module loader, ~10 ms of start-up, for nothing.
const path = require('node:path')

const root = path.join(__dirname, '..')
const argv = process.argv.slice(2)
if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-v' || argv[0] === 'version')) {
  // Answered without loading oclif: it is what scripts and monitoring call most.
  const {version} = JSON.parse(require('node:fs').readFileSync(path.join(root, 'package.json'), 'utf8'))
  process.stdout.write(`xmppctl/${version} ${process.platform}-${process.arch} node-${process.version}\n`)
} else {
  // oclif checks its own engines field with semver on import (~20 ms); package.json's engines covers ours.
  process.env.OCLIF_DISABLE_ENGINE_WARNING ??= '1'
  // oclif, the commands and the prerun hook, in one file (scripts/bundle.js), compiled from V8's code cache.
  const {COMMANDS, commandFirst, Config, run, flush, handle} = require('./load-bundle.js').loadBundle(path.join(root, 'dist', 'cli.cjs'))
  // `xmppctl -c FILE user add …`: oclif reads the command from the first words, so --config goes behind it.
  const args = commandFirst(argv)
  // Loading the core plugins costs every command ~10 ms, and only `help`, the `plugins` topic (shared
  // with plugin-plugins) and listings of every command need them: xmppctl's own commands run without.
  const pjson = JSON.parse(require('node:fs').readFileSync(path.join(root, 'package.json'), 'utf8'))
  const ownCommand = args[0] !== 'plugins' && Object.keys(COMMANDS).some((id) => id.split(':')[0] === args[0])
  if (ownCommand) pjson.oclif.plugins = []
  // The package root, not this file: oclif would take bin/package.json for the CLI's. What oclif's
  // execute() does, with the configuration loaded first, under a quicker localeCompare.
  const restore = codePointLocaleCompare()
  Config.load({root, pjson})
    .finally(restore)
    .then((config) => run(args, config))
    .then(() => flush())
    .catch((error) => handle(error))
}

/**
 * oclif sorts each plugin's command ids with localeCompare while it loads, and the first call of
 * localeCompare in a process builds ICU's collator: ~8 ms, a tenth of what a command spends starting.
 * While the configuration loads, ids of lower-case letters, "-" and ":" (all of xmppctl's and its
 * core plugins') compare by code point, which for those characters is the root collation's order;
 * anything else, or a call with locales or options, goes to the real localeCompare. Where the order
 * is shown (help), oclif sorts by code point again. Returns the function that puts the original back.
 */
function codePointLocaleCompare() {
  const original = String.prototype.localeCompare
  const simple = /^[a-z:-]*$/
  // A method, like the one it stands in for: `this` is the string compared.
  String.prototype.localeCompare = function localeCompare(that, ...rest) {
    const self = String(this)
    if (rest.length === 0 && typeof that === 'string' && simple.test(self) && simple.test(that)) return self < that ? -1 : self > that ? 1 : 0
    return original.call(this, that, ...rest)
  }

  return () => {
    String.prototype.localeCompare = original
  }
}
