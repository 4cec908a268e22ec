#!/usr/bin/env node
// Bundles the CLI into dist/cli.cjs: @oclif/core, every command, src and the
// pure-JS dependencies in one file. Node resolves, reads and compiles each
// module file on its own: @oclif/core alone is hundreds of them (~120 ms),
// more than `user add` spends on its own work. bin/load-bundle.js loads the
// file with V8's code cache.
//
// The file exports COMMANDS (command id → class, oclif's "explicit" command
// discovery in package.json), the prerun and command_not_found hooks, commandFirst (the global
// --config moved behind the command) and oclif's own exports, which
// bin/run.js runs. Runs after tsc: it bundles the compiled dist/commands and
// dist/src, which stay what tests and the PBKDF2 worker use.
import {build} from 'esbuild'
import {createHash} from 'node:crypto'
import {readdirSync, rmSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import ts from 'typescript'

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
  "export const COMMAND_NOT_FOUND_HOOK = require('./src/cli/hooks/command-not-found.js').default",
  "export {commandFirst} from './src/cli/argv.js'",
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
const {outputFiles} = await build({
  stdin: {contents: entry, resolveDir: dist, sourcefile: 'cli-entry.js', loader: 'js'},
  outfile,
  write: false,
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
    // better-sqlite3 13, for Node 22 and later (src/store/sqlite/driver.ts): loaded from node_modules there.
    'better-sqlite3-napi',
    // Large, and loaded only by the commands that need them (on demand, as before): PostgreSQL import,
    // interactive prompts, X.509, JWT. In the bundle they would be read and compiled by every command.
    'pg',
    'pg-native',
    '@inquirer/prompts',
    '@peculiar/x509',
    'reflect-metadata',
    'jose',
    // A native addon (GSSAPI through libkrb5), loaded by test-auth gssapi only.
    'kerberos',
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
  logLevel: 'warning',
})

// import() cannot run in code that bin/load-bundle.js compiles from V8's code cache (Node 20 loses the
// script's dynamic import callback: ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING), so every import() in the
// bundle becomes a call of a function the loader passes in. Loaded by a plain require() (as
// scripts/manifest.js does through oclif), the bundle falls back to import() itself.
const IMPORT = '__xmppctlDynamicImport'
let code = outputFiles[0].text
if (code.includes(IMPORT)) throw new Error(`${IMPORT} already occurs in the bundle`)
const parsed = ts.createSourceFile('cli.cjs', code, ts.ScriptTarget.Latest, false, ts.ScriptKind.JS)
const importCalls = []
const visit = (node) => {
  if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) importCalls.push(node.expression.getStart(parsed))
  ts.forEachChild(node, visit)
}

visit(parsed)
for (const start of importCalls.reverse()) code = `${code.slice(0, start)}${IMPORT}${code.slice(start + 'import'.length)}`
// The file is one function expression, which bin/load-bundle.js compiles as it is (wrapping it in a
// string of its own would copy the whole source again); required as a plain CommonJS module, it calls
// the function with the module wrapper's arguments.
const wrapped = [
  '(function (bundle, wrapper) { if (wrapper) bundle.apply(wrapper[0], wrapper); return bundle })((function (exports, require, module, __filename, __dirname, xmppctlImport) {',
  `const ${IMPORT} = typeof xmppctlImport === 'function' ? xmppctlImport : (specifier) => import(specifier);`,
  "const importMetaUrl = require('node:url').pathToFileURL(__filename).href;",
  code,
  "}), typeof arguments === 'object' ? arguments : undefined)",
].join('\n')

// bin/load-bundle.js reads the bundle as latin1, a one-byte string that is quicker to read and compile
// than UTF-8: esbuild escapes non-ASCII text except inside regular expression literals, where a \u
// escape of four hex digits means the same character.
code = wrapped.replace(/[^\0-\x7f]/g, (character) => `\\u${character.charCodeAt(0).toString(16).padStart(4, '0')}`)
// V8 accepts a code cache made for any source of the same length: the cache is named by this hash instead.
const hash = createHash('sha256').update(code).digest('hex').slice(0, 16)
writeFileSync(outfile, `${code}\n//# xmppctl-bundle ${hash}\n`)
// Builds before the cache moved to the user's cache directory (bin/load-bundle.js) left theirs here.
for (const file of readdirSync(dist)) if (/^cli-[0-9a-f]+\.cache$/.test(file)) rmSync(path.join(dist, file))
process.stderr.write(`dist/cli.cjs: ${commandFiles.length} commands, ${importCalls.length} import() calls passed to the loader\n`)
