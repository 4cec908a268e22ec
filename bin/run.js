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
  const {COMMANDS, commandFirst, execute} = require('./load-bundle.js').loadBundle(path.join(root, 'dist', 'cli.cjs'))
  // `xmppctl -c FILE user add …`: oclif reads the command from the first words, so --config goes behind it.
  const args = commandFirst(argv)
  // Loading the core plugins costs every command ~10 ms, and only `help`, the `plugins` topic (shared
  // with plugin-plugins) and listings of every command need them: xmppctl's own commands run without.
  const pjson = JSON.parse(require('node:fs').readFileSync(path.join(root, 'package.json'), 'utf8'))
  const ownCommand = args[0] !== 'plugins' && Object.keys(COMMANDS).some((id) => id.split(':')[0] === args[0])
  if (ownCommand) pjson.oclif.plugins = []
  // The package root, not this file: oclif would take bin/package.json for the CLI's.
  execute({dir: root, args, loadOptions: {root, pjson}})
}
