#!/usr/bin/env node
// Bundles the CLI into dist/cli.cjs: @oclif/core, every command, src and the
// pure-JS dependencies in one file. Node resolves, reads and compiles each
// module file on its own: @oclif/core alone is hundreds of them (~120 ms),
// more than `user add` spends on its own work.
//
// The file exports COMMANDS (command id → class, oclif's "explicit" command
// discovery in package.json), the prerun hook, and oclif's own exports, which
// bin/run.js runs. Runs after tsc: it bundles the compiled dist/commands and
// dist/src, which stay what tests and the PBKDF2 worker use.
import {build} from 'esbuild'
import {readdirSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const dist = path.join(root, 'dist')
const commandsDir = path.join(dist, 'commands')

// Ids as oclif's pattern discovery derives them: user/add.js is user:add, test-auth/index.js is test-auth.
const commandFiles = readdirSync(commandsDir, {recursive: true})
  .map(String)
  .filter((file) => file.endsWith('.js'))
  .sort()
if (commandFiles.length === 0) throw new Error('no commands in dist/commands: did the TypeScript build run?')
const commandId = (file) =>
  file
    .replace(/\.js$/, '')
    .split(path.sep)
    .filter((part, index, parts) => !(part === 'index' && index === parts.length - 1))
    .join(':')

// Each command is a getter around require(): esbuild then wraps every module in a lazy initialiser, so
// running one command evaluates only its own module graph, as separate files did (oclif reads one
// property of COMMANDS; all of them only when scripts/manifest.js builds the manifest).
const entry = [
  'export const COMMANDS = {',
  ...commandFiles.map((file) => `  get ${JSON.stringify(commandId(file))}() { return require('./commands/${file.split(path.sep).join('/')}').default },`),
  '}',
  "export const PRERUN_HOOK = require('./src/cli/hooks/plugins.js').default",
  "export * from '@oclif/core'",
].join('\n')

// better-sqlite3's JavaScript is bundled (its dozen files took ~15 ms to load); its addon is not. It finds
// the addon through the bindings package, which reads a stack trace for the calling package (in the bundle,
// xmppctl) and tries a dozen directories: go straight to build/Release, where npm builds or downloads it.
const sqliteAddon = {
  name: 'better-sqlite3-addon',
  setup(plugin) {
    plugin.onResolve({filter: /^bindings$/}, () => ({path: 'bindings', namespace: 'better-sqlite3-addon'}))
    plugin.onLoad({filter: /.*/, namespace: 'better-sqlite3-addon'}, () => ({
      contents: "const path = require('node:path')\nmodule.exports = (name) => require(path.join(path.dirname(require.resolve('better-sqlite3/package.json')), 'build', 'Release', name))\n",
      loader: 'js',
      resolveDir: root,
    }))
  },
}

const outfile = path.join(dist, 'cli.cjs')
await build({
  stdin: {contents: entry, resolveDir: dist, sourcefile: 'cli-entry.js', loader: 'js'},
  outfile,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  // Every byte is read, and bytes cost start-up time; keepNames keeps function and class names (stack traces, oclif's debug output).
  minify: true,
  keepNames: true,
  external: [
    // Resolved at run time, where the addon is (sqliteAddon).
    'better-sqlite3/package.json',
    // Large, and loaded only by the commands that need them (on demand, as before): PostgreSQL import,
    // interactive prompts, X.509, JWT. In the bundle they would be read and compiled by every command.
    'pg',
    'pg-native',
    '@inquirer/prompts',
    '@peculiar/x509',
    'reflect-metadata',
    'jose',
    // oclif's optional TypeScript support.
    'typescript',
    'ts-node',
    'tsx',
    // The core plugins, which oclif loads from node_modules by name.
    '@oclif/plugin-help',
    '@oclif/plugin-plugins',
  ],
  plugins: [sqliteAddon],
  // import.meta.url is undefined in CommonJS: modules that use it (createRequire, paths.ts) get the bundle's own URL.
  define: {'import.meta.url': 'importMetaUrl'},
  banner: {js: "const importMetaUrl = require('node:url').pathToFileURL(__filename).href;"},
  logLevel: 'warning',
})

process.stderr.write(`dist/cli.cjs: ${commandFiles.length} commands\n`)
