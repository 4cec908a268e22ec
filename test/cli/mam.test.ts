import assert from 'node:assert/strict'
import path from 'node:path'
import {describe, it} from 'node:test'

import Database from '../../src/store/sqlite/driver.js'

import {type CliResult, runCli, tempDir, writeConfig} from '../helpers.js'

const DAY = 86_400_000

/** A store with alice and bob, each with two archived messages: one 40 days old, one a day old. */
async function setup(t: {after(fn: () => void): void}) {
  const dir = tempDir(t)
  writeConfig(dir, 'hosts: [example.org]\nauth_scram_iterations: 4096\n')
  const cli = (args: string[], stdin?: string): Promise<CliResult> => runCli(args, {cwd: dir, stdin})
  for (const user of ['alice', 'bob']) assert.equal((await cli(['user', 'add', `${user}@example.org`, '--password-stdin'], 'pw\n')).status, 0)
  const db = new Database(path.join(dir, 'data', 'accounts.sqlite'))
  const owner = db.prepare<[string], {owner: number}>("INSERT INTO archive_owners (host, username) VALUES ('example.org', ?) RETURNING owner")
  const stanza = db.prepare("INSERT INTO archive_stanzas (id, stanza, refs) VALUES (?, '<message/>', 1)")
  const entry = db.prepare("INSERT INTO archive_entries (owner, id, with_jid) VALUES (?, ?, 'carol@example.org')")
  const now = Date.now()
  let id = 0
  for (const user of ['alice', 'bob']) {
    const number = owner.get(user)!.owner
    for (const age of [40 * DAY, DAY]) {
      const archived = (now - age) * 1000 + ++id
      stanza.run(archived)
      entry.run(number, archived)
    }
  }
  const remaining = () => db.prepare('SELECT username, count(*) AS n FROM archive_messages GROUP BY username ORDER BY username').all()
  t.after(() => db.close())
  return {cli, remaining}
}

describe('mam purge', () => {
  it('counts under --dry-run, then deletes every account\'s messages older than the age', async (t) => {
    const {cli, remaining} = await setup(t)
    const dry = await cli(['mam', 'purge', '--older-than', '30d', '--dry-run'])
    assert.equal(dry.status, 0)
    assert.match(dry.stdout, /^would delete 2 archived messages older than 30d \(before \d{4}-\d\d-\d\dT[\d:.]+Z\)\n$/)
    assert.deepEqual(remaining(), [{username: 'alice', n: 2}, {username: 'bob', n: 2}])

    const done = await cli(['mam', 'purge', '--older-than', '30d', '--json'])
    assert.equal(done.status, 0)
    const result = JSON.parse(done.stdout) as {before: string}
    assert.ok(Math.abs(Date.parse(result.before) - (Date.now() - 30 * DAY)) < 60_000, result.before)
    assert.deepEqual(result, {olderThan: '30d', before: result.before, user: null, messages: 2, dryRun: false})
    assert.deepEqual(remaining(), [{username: 'alice', n: 1}, {username: 'bob', n: 1}])
  })

  it('purges one account\'s archive with --user', async (t) => {
    const {cli, remaining} = await setup(t)
    const done = await cli(['mam', 'purge', '--older-than', '12h', '--user', 'Alice@example.org'])
    assert.equal(done.status, 0)
    assert.match(done.stdout, /^deleted 2 archived messages of alice@example\.org older than 12h \(before [^)]+\)\n$/)
    assert.deepEqual(remaining(), [{username: 'bob', n: 2}])
  })

  it('refuses a bad duration and an unknown account, deleting nothing', async (t) => {
    const {cli, remaining} = await setup(t)
    assert.deepEqual(await cli(['mam', 'purge', '--older-than', '30 days']), {
      status: 2,
      stdout: '',
      stderr: 'error: invalid duration "30 days": expected a positive number and a unit (write it as 45s, 90m, 12h, 30d or 2w)\n',
    })
    const absent = await cli(['mam', 'purge', '--older-than', '1d', '--user', 'nobody@example.org'])
    assert.equal(absent.status, 1)
    assert.match(absent.stderr, /^error: account nobody@example\.org does not exist/)
    assert.deepEqual(remaining(), [{username: 'alice', n: 2}, {username: 'bob', n: 2}])
  })
})
