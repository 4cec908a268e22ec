import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {runCli, tempDir, writeConfig} from '../../helpers.js'
import {assertPasswords, inBatches} from './check.js'
import {TRICKY_PASSWORDS, ejabberd, which} from './servers.js'

const unavailable = which('ejabberdctl') ? false : 'ejabberdctl not found: install Debian packages ejabberd and erlang-p1-sqlite3'

const ACCOUNTS = [
  {user: 'a.b-c_d', password: TRICKY_PASSWORDS.colon},
  {user: 'umlaut', password: TRICKY_PASSWORDS.umlauts},
  {user: 'long', password: TRICKY_PASSWORDS.long},
]

describe("import from a real ejabberd's SQLite database", {skip: unavailable}, () => {
  for (const schema of ['multi-host', 'single-host'] as const) {
    it(`reads the ${schema} users table ejabberd wrote (SCRAM and plaintext), and every password checks`, async (t) => {
      // The single-host schema has no server_host column, so one host per database.
      const hosts = schema === 'multi-host' ? ['sql.test'] : []
      const plainHosts = schema === 'multi-host' ? ['plain.sql.test'] : ['plain.sql.test']
      const server = await ejabberd(t, {hosts, plainHosts, sqlite: schema})
      const expected: Array<{jid: string; password: string}> = []
      for (const host of [...hosts, ...plainHosts]) {
        await inBatches(ACCOUNTS, 1, async ({user, password}) => {
          const registered = await server.ctl('register', user, host, password)
          assert.equal(registered.status, 0, registered.stdout + registered.stderr)
          expected.push({jid: `${user}@${host}`, password})
        })
      }

      const dir = tempDir(t)
      writeConfig(dir, 'hosts: [sql.test, plain.sql.test]\nauth_scram_iterations: 4096\n')
      const args = ['user', 'import', server.database!, '--from', 'ejabberd-sql', '--json', ...(schema === 'single-host' ? ['--host', 'plain.sql.test'] : [])]
      const result = await runCli(args, {cwd: dir})
      assert.equal(result.status, 0, result.stderr)
      const summary = JSON.parse(result.stdout)
      assert.equal(summary.counts.created, expected.length)
      assert.deepEqual(summary.problems, [])
      if (schema === 'multi-host') {
        const info = JSON.parse((await runCli(['user', 'info', 'umlaut@sql.test', '--json'], {cwd: dir})).stdout)
        assert.deepEqual([info.hashes, info.iterations], [['sha1'], 4096])
      }

      await assertPasswords(dir, expected)
    })
  }

  it('reads the SCRAM-SHA-256 rows ejabberd writes with auth_scram_hash: sha256 (stored key prefixed sha256:), and every password checks', async (t) => {
    const server = await ejabberd(t, {hosts: ['sha256.test'], sqlite: 'multi-host', scramHash: 'sha256'})
    const expected: Array<{jid: string; password: string}> = []
    await inBatches(ACCOUNTS, 1, async ({user, password}) => {
      const registered = await server.ctl('register', user, 'sha256.test', password)
      assert.equal(registered.status, 0, registered.stdout + registered.stderr)
      expected.push({jid: `${user}@sha256.test`, password})
    })

    const dir = tempDir(t)
    writeConfig(dir, 'hosts: [sha256.test]\n')
    const result = await runCli(['user', 'import', server.database!, '--from', 'ejabberd-sql', '--json'], {cwd: dir})
    assert.equal(result.status, 0, result.stdout + result.stderr)
    const summary = JSON.parse(result.stdout)
    assert.deepEqual([summary.counts.created, summary.problems], [expected.length, []])
    const info = JSON.parse((await runCli(['user', 'info', 'umlaut@sha256.test', '--json'], {cwd: dir})).stdout)
    assert.deepEqual([info.hashes, info.iterations], [['sha256'], 4096])
    await assertPasswords(dir, expected)
  })
})
