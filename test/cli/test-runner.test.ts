import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import {existsSync, readdirSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {describe, it} from 'node:test'
import {PROJECT_ROOT, freePort, tempDir} from '../helpers.js'

// scripts/test.js, `npm test`'s runner: under CI=true a test that skipped itself
// because a daemon or a privilege is missing turns the run red.
describe('the test runner (scripts/test.js)', () => {
  const runner = path.join(PROJECT_ROOT, 'scripts', 'test.js')
  const run = (dir: string, ci: boolean, {args = [], env = {}}: {args?: string[]; env?: NodeJS.ProcessEnv} = {}) =>
    spawnSync(process.execPath, [runner, ...args], {
      encoding: 'utf8',
      env: {...process.env, CI: ci ? 'true' : 'false', XMPPCTL_TEST_DIR: dir, NODE_TEST_CONTEXT: undefined, XMPPCTL_TEST_STORE: undefined, XMPPCTL_TEST_STORES: undefined, ...env},
      // The runner's own bound is what is tested; this one only keeps a broken runner from holding the suite.
      timeout: 60_000,
    })
  // Node 20 and 22 report in TAP when stdout is not a terminal, Node 24 with the spec reporter.
  const passed = (stdout: string) => [...stdout.matchAll(/^\s*(?:ok \d+ - |✔ )(.+?)(?: \(\d[\d.]*ms\))?$/gm)].map((match) => match[1])
  const fixture = (t: {after(fn: () => void): void}) => {
    const dir = tempDir(t)
    writeFileSync(
      path.join(dir, 'daemon.test.js'),
      [
        "import {describe, it} from 'node:test'",
        "it('runs everywhere', () => {})",
        "describe('a real daemon', {skip: 'exampled is not installed (apt-get install exampled)'}, () => { it('answers', () => {}) })",
      ].join('\n'),
    )
    return dir
  }

  it('fails under CI=true when a test skipped, naming it and its reason', (t) => {
    const result = run(fixture(t), true)
    assert.equal(result.status, 1, result.stderr)
    assert.match(result.stderr, /CI=true, and 1 test was skipped; install what they need in \.ci\/run \(or run as root\):\n {2}a real daemon: exampled is not installed \(apt-get install exampled\)\n/)
  })

  it('passes the same tests outside CI, where a missing daemon only skips', (t) => {
    const result = run(fixture(t), false)
    assert.equal(result.status, 0, result.stderr)
    assert.doesNotMatch(result.stderr, /skipped;/)
  })

  it('does not count the tests --test-name-pattern leaves out', (t) => {
    const result = run(fixture(t), true, {args: ['--test-name-pattern=everywhere']})
    assert.equal(result.status, 0, result.stderr)
    assert.doesNotMatch(result.stderr, /skipped;/)
  })

  it('fails a test that runs past the bound, by name, and goes on with the other files', (t) => {
    const dir = tempDir(t)
    // A timer keeps the file's process alive for 20 s: Node 20 and 22 end it at the bound, Node 24 when the timer has run.
    writeFileSync(path.join(dir, 'a-hang.test.js'), "import {it} from 'node:test'\nit('waits for a daemon that never answers', () => new Promise(() => setTimeout(() => {}, 20_000)))\n")
    writeFileSync(path.join(dir, 'b-plain.test.js'), "import {it} from 'node:test'\nit('runs after it', () => {})\n")
    const started = Date.now()
    const result = run(dir, true, {env: {XMPPCTL_TEST_TIMEOUT_MS: '1500', XMPPCTL_TEST_STORES: 'sqlite'}})
    assert.equal(result.status, 1, result.stdout + result.stderr)
    assert.ok(Date.now() - started < 40_000, `the runner took ${Date.now() - started} ms`)
    // Node 20 and 22 name the file (its bound starts first), Node 24 the test.
    assert.match(result.stdout, /✖ (?:\S+\/a-hang\.test\.js|waits for a daemon that never answers) \(\d+(\.\d+)?ms\)\n\s+'test timed out after 1500ms'/)
    assert.match(result.stdout, /✔ runs after it/)
  })

  it('runs the suites whose servers come from startTestServer a second time, on PostgreSQL', (t) => {
    const dir = tempDir(t)
    writeFileSync(path.join(dir, 'plain.test.js'), "import {it} from 'node:test'\nit(`plain on ${process.env.XMPPCTL_TEST_STORE ?? 'sqlite'}`, () => {})\n")
    // The runner picks files by their text: a call of startTestServer( (here in a comment) marks a server suite.
    writeFileSync(path.join(dir, 'server.test.js'), "import {it} from 'node:test'\n// startTestServer(t)\nit(`server on ${process.env.XMPPCTL_TEST_STORE ?? 'sqlite'}`, () => {})\n")
    const result = run(dir, false)
    assert.equal(result.status, 0, result.stderr)
    const ran = passed(result.stdout).filter((name) => / on /.test(name)).sort()
    if (process.getuid?.() === 0) assert.deepEqual(ran, ['plain on sqlite', 'server on postgresql', 'server on sqlite'])
    else {
      assert.deepEqual(ran, ['plain on sqlite', 'server on sqlite'])
      assert.match(result.stderr, /the PostgreSQL pass is left out: it runs PostgreSQL as the postgres user, which needs root/)
    }
  })

  it('gives the files of a run one directory of port claims, and removes it at the end', (t) => {
    const dir = tempDir(t)
    for (const name of ['a', 'b']) writeFileSync(path.join(dir, `${name}.test.js`), "import {it} from 'node:test'\nit(`claims in ${process.env.XMPPCTL_TEST_PORTS_DIR}`, () => {})\n")
    const result = run(dir, false, {env: {XMPPCTL_TEST_STORES: 'sqlite'}})
    assert.equal(result.status, 0, result.stdout + result.stderr)
    const claims = passed(result.stdout).flatMap((name) => /^claims in (\S+)$/.exec(name)?.slice(1) ?? [])
    assert.equal(claims.length, 2, result.stdout)
    assert.equal(claims[0], claims[1])
    assert.match(claims[0], /xmppctl-ports-/)
    assert.equal(existsSync(claims[0]), false, `${claims[0]} is left behind`)
  })
})

// freePort's claims keep two test files that run side by side from being given the same port.
describe('freePort', () => {
  const withClaims = (t: {after(fn: () => void): void}) => {
    const saved = process.env.XMPPCTL_TEST_PORTS_DIR
    const claims = tempDir(t)
    process.env.XMPPCTL_TEST_PORTS_DIR = claims
    t.after(() => {
      // Assigned undefined, process.env would hold the string "undefined", a directory freePort would then write to.
      if (saved === undefined) delete process.env.XMPPCTL_TEST_PORTS_DIR
      else process.env.XMPPCTL_TEST_PORTS_DIR = saved
    })
    return claims
  }

  it('claims the port it gives in the run\'s directory', async (t) => {
    const claims = withClaims(t)
    const port = await freePort()
    assert.ok(port >= 20_000 && port < 32_000, String(port))
    assert.deepEqual(readdirSync(claims), [String(port)])
  })

  it('never gives a port that another process of the run claimed', async (t) => {
    const claims = withClaims(t)
    for (let port = 20_000; port < 32_000; port++) writeFileSync(path.join(claims, String(port)), '')
    await assert.rejects(freePort(), /no free loopback port found below 32768/)
  })
})
