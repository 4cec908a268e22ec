#!/usr/bin/env node
// Runs every compiled test file under dist/test with Node's test runner.
// Node 20's `--test` takes no glob patterns, and given a directory it would also
// run the helpers that live beside the tests, so the files are listed here.
// Extra arguments are passed on (e.g. `npm test -- --test-name-pattern=jid`).
//
// Under CI=true a skipped test is a failure: the suites that start real daemons
// or need root skip themselves when a binary or a privilege is missing, and a
// CI run whose package list drifted would otherwise stay green while testing
// nothing real. The runner writes a TAP copy of the results beside the usual
// output and names every skipped test with the reason it gave.
import {spawnSync} from 'node:child_process'
import {mkdtempSync, readdirSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
// XMPPCTL_TEST_DIR: another tree of compiled tests (the runner's own test uses it).
const testDir = process.env.XMPPCTL_TEST_DIR ?? join(root, 'dist', 'test')
const files = readdirSync(testDir, {recursive: true})
  .filter((name) => String(name).endsWith('.test.js'))
  .map((name) => join(testDir, String(name)))
  .sort()
if (files.length === 0) {
  process.stderr.write(`no test files under ${testDir}: run "npm run build" first\n`)
  process.exit(2)
}

const options = process.argv.slice(2)
const ci = process.env.CI === 'true'
// A bound on each test and each file: a test that never ends (a daemon that never answers, a child that never
// exits) fails the run with its name instead of holding it until CI's own limit. The longest file here takes about
// two minutes (cli/install.test.js). Node 20 and 22 end the file's process at the bound; Node 24 fails the test but
// waits for the process, which a handle left open (a child, a timer) keeps. --test-force-exit would end it, but it
// also ends files before every result is reported: on Node 20, 22 and 24, runs of unit/jid/jid.test.js reported
// as few as 23 of its 71 tests, all passed, with nothing to say the rest were lost.
// XMPPCTL_TEST_TIMEOUT_MS: another bound (the runner's own test uses it).
const timeoutMs = Number(process.env.XMPPCTL_TEST_TIMEOUT_MS ?? 10 * 60_000)
let status = run(files, {})

// The second store: every test whose servers come from startTestServer (the server and client suites, and the s2s
// suites through s2sServer) runs again with each server on a PostgreSQL database of its own
// (test/integration/server/helpers.ts). Outside CI it is left out, with a word, where PostgreSQL's server is not
// installed or the run is not root.
// XMPPCTL_TEST_STORES=sqlite runs the first pass alone.
const stores = (process.env.XMPPCTL_TEST_STORES ?? 'sqlite,postgresql').split(',')
if (stores.includes('postgresql')) {
  const onServers = files.filter((file) => /\b(?:startTestServer|startWithUsers|s2sServer)\(/.test(readFileSync(file, 'utf8')))
  const missing = postgresMissing()
  if (onServers.length === 0) {
    // No server suites here; `node --test` without files would look for tests under the working directory.
  } else if (missing && !ci) process.stderr.write(`\nthe PostgreSQL pass is left out: ${missing}\n`)
  else {
    process.stdout.write(`\n# the same ${onServers.length} server and client suites on the PostgreSQL store\n`)
    status = run(onServers, {XMPPCTL_TEST_STORE: 'postgresql'}) || status
  }
}

process.exit(status)

/** Runs the files with Node's test runner; its exit status, or 1 when CI=true and a test was skipped. */
function run(testFiles, environment) {
  const tapDir = ci ? mkdtempSync(join(tmpdir(), 'xmppctl-test-')) : undefined
  const tapFile = tapDir && join(tapDir, 'results.tap')
  // Each test file's process claims the ports it is given here (freePort in test/helpers.ts), so that no two
  // files running side by side are given the same one.
  const portClaims = mkdtempSync(join(tmpdir(), 'xmppctl-ports-'))
  const reporters = tapFile ? ['--test-reporter=spec', '--test-reporter-destination=stdout', '--test-reporter=tap', `--test-reporter-destination=${tapFile}`] : []
  const result = spawnSync(process.execPath, ['--test', '--test-concurrency=2', `--test-timeout=${timeoutMs}`, ...reporters, ...options, ...testFiles], {stdio: 'inherit', env: {...process.env, XMPPCTL_TEST_PORTS_DIR: portClaims, ...environment}})
  rmSync(portClaims, {recursive: true, force: true})
  let runStatus = result.status ?? 1
  if (tapFile) {
    const skipped = skippedTests(readFileSync(tapFile, 'utf8'))
    rmSync(tapDir, {recursive: true, force: true})
    if (skipped.length > 0) {
      process.stderr.write(`\nCI=true, and ${skipped.length} test${skipped.length === 1 ? ' was' : 's were'} skipped; install what they need in .ci/run (or run as root):\n`)
      for (const line of skipped) process.stderr.write(`  ${line}\n`)
      runStatus = runStatus || 1
    }
  }

  return runStatus
}

/** Why the PostgreSQL pass cannot run here (test/postgres.ts needs the server binaries, and root to run them as postgres), or undefined. */
function postgresMissing() {
  const initdb = spawnSync('sh', ['-c', 'ls /usr/lib/postgresql/*/bin/initdb'], {encoding: 'utf8'})
  if (initdb.status !== 0) return 'PostgreSQL server binaries not installed (Debian package postgresql)'
  if (process.getuid?.() !== 0) return 'it runs PostgreSQL as the postgres user, which needs root'
  return undefined
}

/** "name: reason" of each test or suite the TAP stream marks `# SKIP`. */
function skippedTests(tap) {
  const skipped = []
  for (const line of tap.split('\n')) {
    const match = /^\s*ok \d+ - (.*?) # SKIP(?: (.*))?$/.exec(line)
    // --test-name-pattern marks the tests it leaves out as skipped with this reason.
    if (match && match[2] !== 'test name does not match pattern') skipped.push(`${match[1]}: ${match[2] || 'no reason given'}`)
  }

  return skipped
}
