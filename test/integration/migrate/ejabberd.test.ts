import assert from 'node:assert/strict'
import {chmodSync, readFileSync, readdirSync} from 'node:fs'
import path from 'node:path'
import {describe, it} from 'node:test'

import {runCli, tempDir, writeConfig} from '../../helpers.js'
import {assertPasswords, inBatches} from './check.js'
import {TRICKY_PASSWORDS, ejabberd, which} from './servers.js'

const unavailable = which('ejabberdctl') ? false : 'ejabberdctl not found: install Debian package ejabberd'

const ACCOUNTS = [
  {user: 'a.b-c_d', password: TRICKY_PASSWORDS.colon},
  {user: 'umlaut', password: TRICKY_PASSWORDS.umlauts},
  {user: 'euro', password: TRICKY_PASSWORDS.euro},
  {user: 'long', password: TRICKY_PASSWORDS.long},
  {user: 'quote.me', password: TRICKY_PASSWORDS.quotes},
]

describe('migrations with a real ejabberd', {skip: unavailable}, () => {
  it('imports what ejabberdctl export_piefxis writes (SCRAM and plain hosts), and ejabberd imports our export', async (t) => {
    const server = await ejabberd(t, {hosts: ['ej.test', 'back.test'], plainHosts: ['plain.ej.test']})
    const expected: Array<{jid: string; password: string}> = []
    for (const host of ['ej.test', 'plain.ej.test']) {
      await inBatches(ACCOUNTS, 1, async ({user, password}) => {
        const registered = await server.ctl('register', user, host, password)
        assert.equal(registered.status, 0, registered.stdout + registered.stderr)
        expected.push({jid: `${user}@${host}`, password})
      })
    }

    const exportDir = server.owned('export')
    const exported = await server.ctl('export_piefxis', exportDir)
    assert.equal(exported.status, 0, exported.stdout + exported.stderr)
    assert.ok(readdirSync(exportDir).length >= 2, 'export_piefxis wrote its index and per-host files')

    // The main file holds only <xi:include href='…'/> of each host's file (ejabberd_piefxis:export_hosts/2).
    const main = readdirSync(exportDir).filter((name) => !name.includes('_'))
    assert.equal(main.length, 1, `one main file among ${readdirSync(exportDir).join(', ')}`)
    assert.match(readFileSync(path.join(exportDir, main[0]), 'utf8'), /<xi:include href='[^']+'\/>/)
    const dir = tempDir(t)
    chmodSync(dir, 0o755)
    writeConfig(dir, 'hosts: [ej.test, plain.ej.test, back.test]\nauth_scram_iterations: 4096\n')
    const imported = await runCli(['import', path.join(exportDir, main[0]), '--from', 'xep0227', '--json'], {cwd: dir})
    assert.equal(imported.status, 0, imported.stderr)
    const summary = JSON.parse(imported.stdout)
    assert.equal(summary.counts.created, ACCOUNTS.length * 2)
    assert.deepEqual(summary.problems, [])
    // The directory holds the same hosts, listed and included: each account is read once, and is already there.
    const again = await runCli(['import', exportDir, '--from', 'xep0227', '--dry-run', '--json'], {cwd: dir})
    assert.equal(again.status, 0, again.stderr)
    assert.deepEqual([JSON.parse(again.stdout).counts.created, JSON.parse(again.stdout).counts.unchanged], [0, ACCOUNTS.length * 2])
    // ejabberd's SCRAM-SHA-1 credentials are kept as they are (4096 iterations, its default).
    const info = JSON.parse((await runCli(['user', 'info', 'a.b-c_d@ej.test', '--json'], {cwd: dir})).stdout)
    assert.deepEqual([info.hashes, info.iterations], [['sha1'], 4096])
    await assertPasswords(dir, expected)

    // The other way: accounts made by xmppctl, exported, imported by ejabberdctl import_piefxis.
    for (const {user, password} of ACCOUNTS) {
      const added = await runCli(['user', 'add', `${user}@back.test`, '--password-stdin'], {cwd: dir, stdin: `${password}\n`})
      assert.equal(added.status, 0, added.stderr)
    }

    const file = path.join(dir, 'back.xml')
    const ours = await runCli(['export', file, '--to', 'xep0227', '--ejabberd', '--host', 'back.test'], {cwd: dir})
    assert.equal(ours.status, 0, ours.stderr)
    chmodSync(file, 0o644) // ejabberd runs as its own user; the export is 0600
    const loaded = await server.ctl('import_piefxis', file)
    assert.equal(loaded.status, 0, loaded.stdout + loaded.stderr)
    await inBatches(ACCOUNTS, 1, async ({user, password}) => {
      assert.equal((await server.ctl('check_password', user, 'back.test', password)).status, 0, `ejabberd refuses ${user}'s password`)
      assert.notEqual((await server.ctl('check_password', user, 'back.test', `${password}x`)).status, 0, `ejabberd accepts a wrong password for ${user}`)
    })
  })
})
