import assert from 'node:assert/strict'
import {existsSync, readFileSync} from 'node:fs'
import {describe, it} from 'node:test'

import {runCli, tempDir, writeConfig} from '../../helpers.js'
import {assertPasswords, inBatches} from './check.js'
import {TRICKY_PASSWORDS, ejabberd, postgres, postgresBin, which} from './servers.js'

const SCHEMA = '/usr/share/ejabberd/sql/pg.new.sql'
const unavailable = !which('ejabberdctl')
  ? 'ejabberdctl not found: install Debian packages ejabberd and erlang-p1-pgsql'
  : !postgresBin()
    ? 'PostgreSQL server binaries not found: install Debian package postgresql'
    : !existsSync(SCHEMA)
      ? `${SCHEMA} not found (Debian package ejabberd)`
      : false

const ACCOUNTS = [
  {user: 'a.b-c_d', password: TRICKY_PASSWORDS.colon},
  {user: 'euro', password: TRICKY_PASSWORDS.euro},
  {user: 'long', password: TRICKY_PASSWORDS.long},
]

describe("import from a real ejabberd's PostgreSQL database", {skip: unavailable}, () => {
  it('reads the users table ejabberd wrote through a postgresql:// URL, and every password checks', async (t) => {
    const pg = await postgres(t, readFileSync(SCHEMA, 'utf8'))
    const server = await ejabberd(t, {hosts: ['pg.test'], plainHosts: ['plain.pg.test'], postgres: pg})
    const expected: Array<{jid: string; password: string}> = []
    for (const host of ['pg.test', 'plain.pg.test']) {
      await inBatches(ACCOUNTS, 1, async ({user, password}) => {
        const registered = await server.ctl('register', user, host, password)
        assert.equal(registered.status, 0, registered.stdout + registered.stderr)
        expected.push({jid: `${user}@${host}`, password})
      })
    }

    const dir = tempDir(t)
    writeConfig(dir, 'hosts: [pg.test, plain.pg.test]\nauth_scram_iterations: 4096\n')
    const result = await runCli(['user', 'import', pg.url, '--from', 'ejabberd-sql', '--json'], {cwd: dir})
    assert.equal(result.status, 0, result.stderr)
    const summary = JSON.parse(result.stdout)
    assert.equal(summary.counts.created, expected.length)
    assert.deepEqual(summary.problems, [])
    assert.ok(!result.stdout.includes(pg.password), 'the database password is not echoed')
    await assertPasswords(dir, expected)

    const unreachable = await runCli(['user', 'import', 'postgresql://ejabberd:x@127.0.0.1:1/ejabberd', '--from', 'ejabberd-sql'], {cwd: dir})
    assert.equal(unreachable.status, 3)
    assert.match(unreachable.stderr, /^error: cannot connect to postgresql:\/\/ejabberd:\*\*\*@127\.0\.0\.1:1\/ejabberd/)
  })
})
