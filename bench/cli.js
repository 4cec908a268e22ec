#!/usr/bin/env node
// Cold start of the CLI, as a ratio to `node -e 0` measured in the same run:
// `xmppctl --version`, and `user add` on a store already holding 100,000
// accounts (minus the PBKDF2 work `user add` must do, measured separately).
// Targets (issue 2): --version ≤ 1.5×, user add ≤ 2× plus PBKDF2.
// Measured from the checkout and from the package as users install it
// (`npm pack`, then `npm install -g` into a scratch prefix, which compiles
// better-sqlite3: about a minute), in alternating runs; BENCH_CLI_INSTALLED=0
// measures the checkout only.
import {spawnSync} from 'node:child_process'
import {pbkdf2} from 'node:crypto'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {promisify} from 'node:util'

const root = fileURLToPath(new URL('..', import.meta.url))
const bin = path.join(root, 'bin', 'run.js')
const RUNS = Number(process.env.BENCH_RUNS ?? 15)
const ACCOUNTS = 100_000
const ITERATIONS = 10_000

function median(values) {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]
}

/** The packed tarball installed globally into a prefix under `dir`; returns its xmppctl. */
function install(dir) {
  const packed = spawnSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], {cwd: root, encoding: 'utf8'})
  if (packed.status !== 0) throw new Error(`npm pack failed: ${packed.stderr}`)
  const tarball = path.join(dir, JSON.parse(packed.stdout)[0].filename)
  const prefix = path.join(dir, 'prefix')
  const installed = spawnSync('npm', ['install', '--global', '--prefix', prefix, '--no-audit', '--no-fund', '--prefer-offline', tarball], {encoding: 'utf8', env: {...process.env, JOBS: 'max'}})
  if (installed.status !== 0) throw new Error(`npm install -g failed: ${installed.stderr}`)
  return path.join(prefix, 'bin', 'xmppctl')
}

function time(args, options = {}) {
  const start = process.hrtime.bigint()
  const result = spawnSync(process.execPath, args, {stdio: ['pipe', 'ignore', 'pipe'], ...options})
  const elapsed = Number(process.hrtime.bigint() - start) / 1e6
  if (result.status !== 0) throw new Error(`${args.join(' ')} failed: ${result.stderr}`)
  return elapsed
}

const dir = mkdtempSync(path.join(tmpdir(), 'xmppctl-bench-'))
try {
  const config = path.join(dir, 'xmppctl.yml')
  writeFileSync(config, `hosts: [example.org]\ndata_dir: data\nauth_scram_iterations: ${ITERATIONS}\n`)

  // Fill the store in one transaction through the store's own schema.
  const {SqliteAccountStore} = await import(path.join(root, 'dist/src/store/sqlite/index.js'))
  const store = SqliteAccountStore.open(path.join(dir, 'data'))
  await store.close()
  const {default: Database} = await import(path.join(root, 'dist/src/store/sqlite/driver.js'))
  const db = new Database(path.join(dir, 'data', 'accounts.sqlite'))
  const insertAccount = db.prepare("INSERT INTO accounts (host, username, state, created_at) VALUES ('example.org', ?, 'enabled', ?)")
  const insertCredential = db.prepare("INSERT INTO scram_credentials VALUES ('example.org', ?, ?, randomblob(16), ?, randomblob(?), randomblob(?))")
  db.transaction(() => {
    for (let index = 0; index < ACCOUNTS; index++) {
      const username = `user${index}`
      insertAccount.run(username, Date.now())
      insertCredential.run(username, 'sha1', ITERATIONS, 20, 20)
      insertCredential.run(username, 'sha256', ITERATIONS, 32, 32)
    }
  })()
  db.close()

  const bins = {checkout: bin}
  if (process.env.BENCH_CLI_INSTALLED !== '0') bins.installed = install(dir)
  const node = []
  const version = Object.fromEntries(Object.keys(bins).map((name) => [name, []]))
  const add = Object.fromEntries(Object.keys(bins).map((name) => [name, []]))
  for (let run = 0; run < RUNS; run++) {
    node.push(time(['-e', '0']))
    for (const [name, file] of Object.entries(bins)) {
      version[name].push(time([file, '--version']))
      add[name].push(time([file, 'user', 'add', `new-${name}-${run}@example.org`, '--password-stdin', '-c', config], {input: 'benchmark password\n'}))
    }
  }

  // What user add must spend on PBKDF2: SHA-1 and SHA-256 derived in parallel on the threadpool.
  const derive = promisify(pbkdf2)
  const pbkdf2Times = []
  for (let run = 0; run < RUNS; run++) {
    const start = process.hrtime.bigint()
    await Promise.all([derive('benchmark password', 'salt', ITERATIONS, 20, 'sha1'), derive('benchmark password', 'salt', ITERATIONS, 32, 'sha256')])
    pbkdf2Times.push(Number(process.hrtime.bigint() - start) / 1e6)
  }

  const nodeMs = median(node)
  const pbkdf2Ms = median(pbkdf2Times)
  const round = (value) => Math.round(value * 100) / 100
  const figures = {}
  for (const name of Object.keys(bins)) {
    const versionMs = median(version[name])
    const addMs = median(add[name])
    const prefix = name === 'checkout' ? '' : `${name}_`
    Object.assign(figures, {
      [`${prefix}version_ms`]: round(versionMs),
      [`${prefix}version_ratio`]: round(versionMs / nodeMs),
      [`${prefix}user_add_ms`]: round(addMs),
      [`${prefix}user_add_ratio_excluding_pbkdf2`]: round((addMs - pbkdf2Ms) / nodeMs),
    })
  }

  console.log(JSON.stringify({bench: 'cli', runs: RUNS, accounts: ACCOUNTS, node_ms: round(nodeMs), pbkdf2_ms: round(pbkdf2Ms), ...figures, version_target: 1.5, user_add_target: 2}))
} finally {
  rmSync(dir, {recursive: true, force: true})
}
