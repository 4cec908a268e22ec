import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {writeFileSync} from 'node:fs'
import path from 'node:path'
import {describe, it} from 'node:test'

import Database from '../../../src/store/sqlite/driver.js'

import {BIN, runCli, tempDir, writeConfig} from '../../helpers.js'

const ACCOUNTS = 60_000
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

function count(file: string): {accounts: number; credentials: number; rosterItems: number} {
  try {
    const db = new Database(file, {readonly: true, timeout: 5000})
    try {
      const accounts = (db.prepare('SELECT count(*) AS n FROM accounts').get() as {n: number}).n
      const credentials = (db.prepare('SELECT count(*) AS n FROM scram_credentials').get() as {n: number}).n
      const rosterItems = (db.prepare('SELECT count(*) AS n FROM roster_items').get() as {n: number}).n
      return {accounts, credentials, rosterItems}
    } finally {
      db.close()
    }
  } catch {
    return {accounts: 0, credentials: 0, rosterItems: 0} // not created yet
  }
}

describe('user import under kill -9', () => {
  it('keeps whole batches only, and a rerun imports the rest', async (t) => {
    const dir = tempDir(t)
    writeConfig(dir, 'hosts: [example.org]\n')
    const b64 = (bytes: number) => randomBytes(bytes).toString('base64')
    const users = Array.from(
      {length: ACCOUNTS},
      (_, index) =>
        `<user name="u${index}"><scram-credentials xmlns="urn:xmpp:pie:0#scram" mechanism="SCRAM-SHA-1"><iter-count>4096</iter-count><salt>${b64(16)}</salt><server-key>${b64(20)}</server-key><stored-key>${b64(20)}</stored-key></scram-credentials>` +
        `<query xmlns="jabber:iq:roster"><item jid="u${(index + 1) % ACCOUNTS}@example.org" subscription="both"/></query></user>`,
    )
    const source = path.join(dir, 'pie.xml')
    writeFileSync(source, `<server-data xmlns="urn:xmpp:pie:0"><host jid="example.org">\n${users.join('\n')}\n</host></server-data>\n`)
    const file = path.join(dir, 'data', 'accounts.sqlite')

    const child = spawn(process.execPath, [BIN, 'user', 'import', source, '--from', 'xep0227'], {cwd: dir, stdio: 'ignore'})
    let exited = false
    const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => {
      exited = true
      resolve(code)
    }))
    while (!exited && count(file).accounts === 0) await sleep(10)
    child.kill('SIGKILL')
    const code = await exit
    const partial = count(file)
    assert.equal(code, null, 'the import was killed before it finished')
    assert.ok(partial.accounts > 0 && partial.accounts < ACCOUNTS, `killed mid-run (${partial.accounts} accounts)`)
    assert.equal(partial.accounts % 5000, 0, 'only whole batches were committed')
    assert.equal(partial.credentials, partial.accounts, 'every committed account has its credentials')
    assert.equal(partial.rosterItems, partial.accounts, 'and its roster, written in the same transaction')

    const rerun = await runCli(['user', 'import', source, '--from', 'xep0227', '--json'], {cwd: dir})
    assert.equal(rerun.status, 0, rerun.stderr)
    const summary = JSON.parse(rerun.stdout)
    // What the killed run committed holds the source's credentials: unchanged, not a conflict, so the rerun exits 0.
    assert.deepEqual([summary.counts.created, summary.counts.unchanged, summary.counts.existing], [ACCOUNTS - partial.accounts, partial.accounts, 0])
    assert.deepEqual(count(file), {accounts: ACCOUNTS, credentials: ACCOUNTS, rosterItems: ACCOUNTS})
  })
})
