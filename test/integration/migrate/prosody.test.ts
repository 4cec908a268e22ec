import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {runCli, tempDir, writeConfig} from '../../helpers.js'
import {assertPasswords} from './check.js'
import {TRICKY_PASSWORDS, prosody, which} from './servers.js'

const unavailable = which('prosodyctl') ? false : 'prosodyctl not found: install Debian package prosody'

/** Usernames with '.', '-', '_' and characters Prosody %-encodes in file names ('+', '=', non-ASCII). */
const ACCOUNTS = [
  {user: 'a.b-c_d', password: TRICKY_PASSWORDS.colon},
  {user: 'ümlaut', password: TRICKY_PASSWORDS.umlauts},
  {user: 'plus+tag', password: TRICKY_PASSWORDS.euro},
  {user: 'x=y', password: TRICKY_PASSWORDS.long},
  {user: 'quote.me', password: TRICKY_PASSWORDS.quotes},
]

describe('import from a real Prosody data directory', {skip: unavailable}, () => {
  it('imports internal_hashed and internal_plain accounts made by prosodyctl, and every password checks', async (t) => {
    const server = prosody(t, {hashed: ['hashed.test'], plain: ['plain.test']})
    const expected: Array<{jid: string; password: string}> = []
    for (const host of ['hashed.test', 'plain.test']) {
      for (const {user, password} of ACCOUNTS) {
        await server.register(user, host, password)
        expected.push({jid: `${user}@${host}`, password})
      }
    }

    const dir = tempDir(t)
    writeConfig(dir, 'hosts: [hashed.test]\nauth_scram_iterations: 4096\n')
    const dry = await runCli(['user', 'import', server.dataPath, '--from', 'prosody', '--dry-run', '--json'], {cwd: dir})
    assert.equal(dry.status, 1, 'the accounts of the unknown host would not be imported')
    assert.equal(JSON.parse(dry.stdout).notImported, ACCOUNTS.length)
    assert.equal(JSON.parse(dry.stdout).counts.created, ACCOUNTS.length)
    assert.equal(JSON.parse(dry.stdout).counts['unknown-host'], ACCOUNTS.length)
    assert.deepEqual(JSON.parse(dry.stdout).unknownHosts, ['plain.test'])

    const result = await runCli(['user', 'import', server.dataPath, '--from', 'prosody', '--add-hosts', '--json'], {cwd: dir})
    assert.equal(result.status, 0, result.stderr)
    const summary = JSON.parse(result.stdout)
    assert.equal(summary.counts.created, ACCOUNTS.length * 2)
    assert.deepEqual(summary.addedHosts, ['plain.test'])
    assert.deepEqual(summary.problems, [])

    // internal_hashed keeps Prosody's SHA-1 credentials (10000 iterations); plaintext is hashed on the way in.
    const hashed = JSON.parse((await runCli(['user', 'info', 'a.b-c_d@hashed.test', '--json'], {cwd: dir})).stdout)
    assert.deepEqual([hashed.hashes, hashed.iterations, hashed.plaintext], [['sha1'], 10000, false])
    const plain = JSON.parse((await runCli(['user', 'info', 'a.b-c_d@plain.test', '--json'], {cwd: dir})).stdout)
    assert.deepEqual([plain.hashes, plain.iterations, plain.plaintext], [['sha1', 'sha256'], 4096, false])

    await assertPasswords(dir, expected)

    // A rerun changes nothing: every account already holds its password (plaintext ones checked against their new SCRAM).
    const again = await runCli(['user', 'import', server.dataPath, '--from', 'prosody', '--json'], {cwd: dir})
    assert.equal(again.status, 0, again.stderr)
    assert.deepEqual([JSON.parse(again.stdout).counts.created, JSON.parse(again.stdout).counts.unchanged], [0, ACCOUNTS.length * 2])
  })
})
