/**
 * The background server's log and limits, through the real CLI: `loglevel`
 * and `--log-level`, rotation by `log_rotate_size`/`log_rotate_count`, and
 * the banned addresses `xmppctl status` shows.
 */
import assert from 'node:assert/strict'
import {existsSync, readFileSync, statSync} from 'node:fs'
import path from 'node:path'
import {describe, it} from 'node:test'

import {waitForExit} from '../../../src/server/process.js'
import {freePort, runCli, tempDir, writeConfig} from '../../helpers.js'
import {open, plain} from './sasl-attempts.js'

/** Starts `xmppctl start ARGS` on a plain-text listener with `extra` configuration; stopped when the test ends. */
async function startServer(t: {after(fn: () => unknown): void}, extra: string, args: string[] = []): Promise<{dir: string; port: number; log: string}> {
  const dir = tempDir(t)
  const port = await freePort()
  writeConfig(dir, `hosts: [localhost]\nlisten:\n  - {port: ${port}, ip: 127.0.0.1, starttls: disabled}\nc2s_require_encryption: false\nallow_unencrypted_plain_auth: true\n${extra}`)
  const started = await runCli(['start', ...args, '--json'], {cwd: dir})
  assert.equal(started.status, 0, started.stdout + started.stderr)
  const {pid} = JSON.parse(started.stdout) as {pid: number}
  // SIGTERM stops it gracefully; waited for, so its data directory is removed after it has gone.
  t.after(async () => {
    process.kill(pid)
    await waitForExit(pid)
  })
  return {dir, port, log: path.join(dir, 'data', 'server.log')}
}

describe('the background server\'s log', () => {
  it('logs at loglevel: warning keeps the throttling warning and drops info lines', async (t) => {
    const {port, log} = await startServer(t, 'loglevel: warning\nc2s_max_auth_failures: 2\n')
    for (let attempt = 0; attempt < 2; attempt++) assert.equal(await plain(port, 'alice', 'secret-password-1'), 'not-authorized')
    assert.equal(await plain(port, 'alice', 'secret-password-1'), 'temporary-auth-failure')
    const deadline = Date.now() + 5000
    while (!/authentication throttled/.test(readFileSync(log, 'utf8')) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
    const text = readFileSync(log, 'utf8')
    assert.match(text, /warn +c2s \d+ (::ffff:)?127\.0\.0\.1: authentication throttled \(address limit\)/)
    assert.doesNotMatch(text, / info /, 'no info line: not "listening on", not "PLAIN failed"')
    assert.doesNotMatch(text, /secret-password-1/)
  })

  it('--log-level overrides loglevel, log_rotate_size rotates server.log into log_rotate_count files of 0600, and status shows the banned address', async (t) => {
    const {dir, port, log} = await startServer(t, 'loglevel: error\nlog_rotate_size: 1500\nlog_rotate_count: 2\nc2s_max_auth_failures: 3\n', ['--log-level', 'debug'])
    for (let attempt = 0; attempt < 3; attempt++) assert.equal(await plain(port, `user${attempt}`, 'wrong'), 'not-authorized')
    for (let connection = 0; connection < 30; connection++) (await open(port)).end()
    const deadline = Date.now() + 5000
    while (!existsSync(`${log}.2`) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
    assert.equal(existsSync(`${log}.3`), false)
    for (const file of [log, `${log}.1`, `${log}.2`]) {
      assert.ok(statSync(file).size <= 1500, `${file}: ${statSync(file).size} bytes`)
      assert.equal(statSync(file).mode & 0o777, 0o600, file)
    }

    const text = [`${log}.2`, `${log}.1`, log].map((file) => readFileSync(file, 'utf8')).join('')
    assert.match(text, /debug c2s \d+ (::ffff:)?127\.0\.0\.1: connected on port/)

    const status = await runCli(['status', '--json'], {cwd: dir})
    const {bans} = JSON.parse(status.stdout) as {bans: Array<{address: string; failures: number; until: string}>}
    assert.deepEqual(bans.map(({address, failures}) => [address, failures]), [['127.0.0.1', 3]])
    const until = Date.parse(bans[0].until)
    assert.ok(until > Date.now() + 290_000 && until <= Date.now() + 300_000, bans[0].until)
    const human = await runCli(['status'], {cwd: dir})
    assert.match(human.stdout, /^ {2}banned 127\.0\.0\.1: 3 failed logins, until \d{4}-\d\d-\d\dT[\d:.]+Z$/m)
  })
})
