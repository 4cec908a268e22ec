/**
 * `xmppctl start` refuses a data directory or an account store it could not
 * serve safely, with one line naming the file and the fix and exit 2, before
 * it listens; never a bug report (exit 70), never a server that fails at the
 * first login or the first write. Each case runs in the background (the
 * default) and in the foreground.
 */
import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {chmodSync, chownSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync} from 'node:fs'
import {userInfo} from 'node:os'
import path from 'node:path'
import {describe, it} from 'node:test'

import {SqliteAccountStore} from '../../src/store/sqlite/index.js'
import {type CliResult, damageAfter, freePort, runCli, tempDir, writeConfig} from '../helpers.js'

const root = process.getuid?.() === 0
/** Root may write anywhere: the permission cases run as nobody there, as this user otherwise. */
const other = root ? {uid: Number(execFileSync('id', ['-u', 'nobody'], {encoding: 'utf8'})), gid: Number(execFileSync('id', ['-g', 'nobody'], {encoding: 'utf8'}))} : undefined
const otherName = root ? 'nobody' : userInfo().username

/** A directory with a configuration on a free port, readable by `other`; `data` is its data directory (not created). */
async function setup(t: {after(fn: () => void): void}) {
  const dir = tempDir(t)
  chmodSync(dir, 0o755)
  writeConfig(dir, `hosts: [localhost]\nlisten:\n  - {port: ${await freePort()}, ip: 127.0.0.1}\n`)
  chmodSync(path.join(dir, 'xmppctl.yml'), 0o644)
  const data = path.join(dir, 'data')
  const start = async (options: {as?: typeof other} = {}): Promise<CliResult[]> => {
    const background = await runCli(['start'], {cwd: dir, ...options.as})
    // Should it start after all, the server must not outlive the test (nor keep the foreground run waiting).
    try {
      process.kill(Number(readFileSync(path.join(data, 'xmppctl.pid'), 'utf8')))
    } catch {}

    return [background, await runCli(['start', '--foreground'], {cwd: dir, ...options.as, timeoutMs: 30_000})]
  }
  return {dir, data, store: path.join(data, 'accounts.sqlite'), start}
}

function assertRefused(results: CliResult[], stderr: string | RegExp): void {
  for (const [index, result] of results.entries()) {
    const mode = index === 0 ? 'background' : 'foreground'
    assert.equal(result.status, 2, `${mode}: ${result.stderr}`)
    if (typeof stderr === 'string') assert.equal(result.stderr, stderr, mode)
    else assert.match(result.stderr, stderr, mode)
    assert.equal(result.stdout, '', mode)
  }
}

describe('start: the data directory', () => {
  it('refuses a data directory this user cannot write: one line naming it, the user and the fix, exit 2', async (t) => {
    const {data, start} = await setup(t)
    // Root's, 0700, for nobody; this user's, read-only, otherwise.
    mkdirSync(data, {mode: 0o700})
    if (!root) chmodSync(data, 0o500)
    assertRefused(
      await start({as: other}),
      `error: cannot write data directory ${data} as user ${otherName}: EACCES: permission denied (run xmppctl as the user that owns ${data}, or give it to ${otherName}: chown -R ${otherName} ${data})\n`,
    )
  })

  it('refuses a data directory every user can write (0777), naming its mode and the chmod, and writes nothing there', async (t) => {
    const {data, start} = await setup(t)
    mkdirSync(data)
    chmodSync(data, 0o777)
    assertRefused(await start(), `error: data directory ${data} has mode 0777: every user on this machine can replace the account store, keys and control socket in it (chmod 700 ${data})\n`)
    assert.deepEqual(readdirSync(data), [])
    assert.equal(statSync(data).mode & 0o777, 0o777)
  })
  it('starts with a data directory its group can write (0770), warning on stderr and in the log with the chmod', async (t) => {
    const {dir, data} = await setup(t)
    mkdirSync(data)
    chmodSync(data, 0o770)
    const started = await runCli(['start'], {cwd: dir})
    // Read now: the temporary directory, pid file and all, may be gone by the time the after hooks run.
    const pid = Number(readFileSync(path.join(data, 'xmppctl.pid'), 'utf8'))
    t.after(() => process.kill(pid))
    const warning = `data directory ${data} has mode 0770: its group can replace the account store, keys and control socket in it (chmod g-w ${data}, unless the group is only its operators)`
    assert.equal(started.status, 0, started.stderr)
    assert.equal(started.stderr, `warning: ${warning}\n`)
    assert.ok(readFileSync(path.join(data, 'server.log'), 'utf8').includes(` warn  ${warning}\n`))
  })
})

describe('start: the account store', () => {
  it('refuses a store with damaged pages, naming the file and a backup, instead of rejecting every login', async (t) => {
    const {data, store, start} = await setup(t)
    const accounts = SqliteAccountStore.open(data)
    // The new store's pages: the header and the schema, whose size grows with each migration (and whose pages freed by a migration new rows fill first).
    const schemaSize = statSync(store).size
    for (let index = 0; index < 400; index++) {
      await accounts.createAccount('localhost', `user${index}`, {credentials: [{hash: 'sha1', salt: randomBytes(16), iterations: 4096, storedKey: randomBytes(20), serverKey: randomBytes(20)}], plaintext: undefined})
    }

    await accounts.close()
    damageAfter(store, schemaSize)
    assertRefused(await start(), new RegExp(`^error: the account store ${store} is damaged \\(.+\\) \\(restore it from a backup\\)\\n$`))
  })

  it('refuses an empty (0-byte) store file instead of starting on a new empty store, and leaves it as it was', async (t) => {
    const {data, store, start} = await setup(t)
    mkdirSync(data, {mode: 0o700})
    writeFileSync(store, '', {mode: 0o600})
    assertRefused(
      await start(),
      `error: the account store ${store} is empty (0 bytes), not a store (restore it from a backup; if it never held accounts, remove it and xmppctl creates a new store)\n`,
    )
    assert.equal(statSync(store).size, 0)
  })

  it('refuses a store file it cannot write (mode 0444) at start, not at the first write of a session', async (t) => {
    const {data, store, start} = await setup(t)
    await SqliteAccountStore.open(data).close()
    if (other) {
      chownSync(data, other.uid, other.gid)
      chownSync(store, other.uid, other.gid)
    }

    chmodSync(store, 0o444)
    assertRefused(
      await start({as: other}),
      `error: cannot write account store ${store} as user ${otherName}: attempt to write a readonly database (run xmppctl as the user that owns the data directory, or give ${otherName} write access to ${data} and the store file in it)\n`,
    )
  })
})
