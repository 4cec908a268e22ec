#!/usr/bin/env node
// Writes V8's code cache of dist/cli.cjs (bin/load-bundle.js) from one run of
// `user add` on a throw-away store. The cache holds the functions its run
// compiled: left to whichever command first ran after a build, it could come
// from `help`, or from a long-running server whose unused bytecode V8 had
// flushed, and `user add` would then compile most of its code on every run.
// The account commands share their code (oclif, configuration, store, JIDs,
// SCRAM), so one of them warms them all; other commands compile what they
// use beyond it, as they would without a cache.
import {spawnSync} from 'node:child_process'
import {existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import module from 'node:module'
import {homedir, tmpdir} from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const dist = path.join(root, 'dist')
const dir = mkdtempSync(path.join(tmpdir(), 'xmppctl-warm-cache-'))
try {
  const config = path.join(dir, 'xmppctl.yml')
  writeFileSync(config, 'hosts: [localhost]\ndata_dir: data\nauth_scram_iterations: 4096\n')
  const result = spawnSync(process.execPath, [path.join(root, 'bin', 'run.js'), 'user', 'add', 'warm-up@localhost', '--password-stdin', '-c', config], {
    cwd: dir,
    input: 'warm-up password\n',
    encoding: 'utf8',
  })
  if (result.status !== 0) throw new Error(`xmppctl user add failed while warming the code cache (exit ${result.status}): ${result.stderr.trim()}`)
  // Where bin/load-bundle.js keeps it: $XDG_CACHE_HOME/xmppctl or ~/.cache/xmppctl, named by the bundle's hash.
  const hash = /\/\/# xmppctl-bundle ([0-9a-f]+)\s*$/.exec(readFileSync(path.join(dist, 'cli.cjs'), 'latin1').slice(-100))?.[1]
  const cacheDir = process.env.XDG_CACHE_HOME && path.isAbsolute(process.env.XDG_CACHE_HOME) ? path.join(process.env.XDG_CACHE_HOME, 'xmppctl') : path.join(homedir(), '.cache', 'xmppctl')
  const written = existsSync(cacheDir) && readdirSync(cacheDir).some((file) => file.startsWith(`cli-${hash}-`))
  // Node 22's own compile cache names its files otherwise; an unwritable cache directory is the other way to get here.
  process.stderr.write(written || typeof module.enableCompileCache === 'function' ? `${cacheDir}: code cache written by a run of "user add"\n` : `warning: no code cache was written to ${cacheDir} (is it writable?)\n`)
} finally {
  rmSync(dir, {recursive: true, force: true})
}
