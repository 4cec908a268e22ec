#!/usr/bin/env node
// `--version` is answered without loading oclif: it is what scripts and
// monitoring call most, and oclif's start-up would triple its cost.
const argv = process.argv.slice(2)
if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-v' || argv[0] === 'version')) {
  const {readFileSync} = await import('node:fs')
  const {version} = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'))
  process.stdout.write(`xmppctl/${version} ${process.platform}-${process.arch} node-${process.version}\n`)
} else {
  // oclif checks its own engines field with semver on import (~20 ms); package.json's engines covers ours.
  process.env.OCLIF_DISABLE_ENGINE_WARNING ??= '1'
  const {execute} = await import('@oclif/core')
  await execute({dir: import.meta.url})
}
