import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {randomBytes, randomInt} from 'node:crypto'
import path from 'node:path'
import {describe, it} from 'node:test'

import Database from '../../../src/store/sqlite/driver.js'

import {verifyAccountPassword} from '../../../src/accounts/index.js'
import {SqliteAccountStore} from '../../../src/store/sqlite/index.js'
import {BIN, runCli, tempDir, writeConfig} from '../../helpers.js'

const ACCOUNTS = 3000
const CONFIG = 'hosts: [example.org]\nauth_scram_hash: [sha1, sha256]\nauth_scram_iterations: 4096\n'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

function converted(file: string): number {
  const db = new Database(file, {readonly: true, timeout: 5000})
  try {
    return (db.prepare('SELECT count(*) AS n FROM accounts WHERE plaintext IS NULL').get() as {n: number}).n
  } finally {
    db.close()
  }
}

/** Every account has its plaintext and no credentials, or no plaintext and both hashes: never neither, never a partial set. */
function assertConsistent(file: string): {plaintext: number; converted: number} {
  const db = new Database(file, {readonly: true})
  try {
    const rows = db
      .prepare(
        `SELECT a.username, a.plaintext IS NOT NULL AS p,
                (SELECT group_concat(hash, ',') FROM (SELECT hash FROM scram_credentials c WHERE c.host = a.host AND c.username = a.username ORDER BY hash)) AS hashes
         FROM accounts a`,
      )
      .all() as Array<{username: string; p: number; hashes: string | null}>
    assert.equal(rows.length, ACCOUNTS)
    let plaintext = 0
    for (const row of rows) {
      if (row.p === 1) {
        assert.equal(row.hashes, null, `${row.username} has plaintext and credentials ${row.hashes}`)
        plaintext++
      } else assert.equal(row.hashes, 'sha1,sha256', `${row.username} lost its plaintext but has only ${row.hashes}`)
    }

    return {plaintext, converted: rows.length - plaintext}
  } finally {
    db.close()
  }
}

describe('scram convert under kill -9', () => {
  it('loses nothing when killed at random points, and a rerun converts the rest with every password intact', async (t) => {
    const dir = tempDir(t)
    writeConfig(dir, CONFIG)
    const dataDir = path.join(dir, 'data')
    const store = SqliteAccountStore.open(dataDir)
    const passwords = new Map<string, string>()
    const tricky = ['pa:ss', 'pässwörd', '€', '€'.repeat(85)]
    const batch = []
    for (let index = 0; index < ACCOUNTS; index++) {
      const username = `user${String(index).padStart(5, '0')}`
      const password = index < tricky.length ? tricky[index] : randomBytes(9).toString('base64')
      passwords.set(username, password)
      batch.push({host: 'example.org', username, secrets: {credentials: [], plaintext: password}, overwrite: false})
    }

    // One password SASLprep refuses (a control character), as an older server may have stored it.
    batch[ACCOUNTS - 1].secrets.plaintext = 'bell\u0007'
    passwords.set(batch[ACCOUNTS - 1].username, 'bell\u0007')
    await store.importAccounts(batch)
    await store.close()
    const file = path.join(dataDir, 'accounts.sqlite')

    // Each run is killed at a random moment after it has committed something, so kills land mid-run.
    let kills = 0
    let midRun = 0
    for (let attempt = 0; attempt < 12 && kills < 4; attempt++) {
      const before = assertConsistent(file).converted
      const child = spawn(process.execPath, [BIN, 'scram', 'convert', '--yes', '--batch-size', '100'], {cwd: dir, stdio: 'ignore', env: {...process.env, NO_COLOR: '1'}})
      let exited = false
      const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => {
        exited = true
        resolve(code)
      }))
      while (!exited && converted(file) <= before) await sleep(20)
      await sleep(randomInt(0, 700))
      child.kill('SIGKILL')
      const code = await exit
      const state = assertConsistent(file)
      if (code !== null) break // finished before the kill
      kills++
      if (state.converted > before && state.plaintext > 1) midRun++
      t.diagnostic(`kill ${kills}: ${state.converted} converted, ${state.plaintext} still plaintext`)
    }

    assert.ok(kills >= 2 && midRun >= 2, `the conversion was killed mid-run several times (${kills} kills, ${midRun} mid-run)`)
    const rerun = await runCli(['scram', 'convert', '--yes', '--json'], {cwd: dir})
    assert.equal(rerun.status, 0, rerun.stderr)
    const result = JSON.parse(rerun.stdout)
    assert.equal(result.failedCount, 1)
    assert.match(result.failed[0].reason, /control character/)
    assert.equal(result.failed[0].jid, `user0${ACCOUNTS - 1}@example.org`)
    const final = assertConsistent(file)
    assert.deepEqual(final, {plaintext: 1, converted: ACCOUNTS - 1})
    assert.equal(result.converted + result.already, ACCOUNTS - 1, 'the rerun reports the earlier conversions as already done')

    const check = SqliteAccountStore.open(dataDir)
    try {
      for (const [username, password] of passwords) {
        const account = await check.getAccount('example.org', username)
        assert.ok(account)
        if (username === batch[ACCOUNTS - 1].username) {
          assert.equal(account.plaintext, 'bell\u0007')
          continue
        }

        assert.equal(await verifyAccountPassword(account, password), true, `${username}'s password no longer verifies`)
        assert.equal(await verifyAccountPassword(account, `${password}!`), false)
      }
    } finally {
      await check.close()
    }
  })
})
