import assert from 'node:assert/strict'
import path from 'node:path'
import {describe, it} from 'node:test'

import Database from '../../src/store/sqlite/driver.js'

import {type CliResult, runCli, tempDir, writeConfig} from '../helpers.js'

const DAY = 86_400_000

/** A store with alice and bob, each with two archived messages, and the persistent room tea with three: 40 days old, a day old (and for tea a second 40 days old). */
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
  db.prepare("INSERT INTO muc_rooms (service, name, config, created_at) VALUES ('conference.example.org', 'tea', '{}', 0)").run()
  const roomMessage = db.prepare("INSERT INTO muc_archive (service, name, id, nick, stanza) VALUES ('conference.example.org', 'tea', ?, 'Nick', '<message/>')")
  for (const age of [40 * DAY, 40 * DAY, DAY]) roomMessage.run((now - age) * 1000 + ++id)
  const remaining = () => [
    ...db.prepare('SELECT username, count(*) AS n FROM archive_messages GROUP BY username ORDER BY username').all(),
    ...db.prepare("SELECT 'room ' || name AS room, count(*) AS n FROM muc_archive GROUP BY name").all(),
  ]
  t.after(() => db.close())
  return {cli, remaining}
}

describe('mam purge', () => {
  it('counts under --dry-run, then deletes every account\'s and every room\'s messages older than the age', async (t) => {
    const {cli, remaining} = await setup(t)
    const dry = await cli(['mam', 'purge', '--older-than', '30d', '--dry-run'])
    assert.equal(dry.status, 0)
    assert.match(dry.stdout, /^would delete 2 archived messages of accounts and 2 archived messages of rooms older than 30d \(before \d{4}-\d\d-\d\dT[\d:.]+Z\)\n$/)
    assert.deepEqual(remaining(), [{username: 'alice', n: 2}, {username: 'bob', n: 2}, {room: 'room tea', n: 3}])

    const done = await cli(['mam', 'purge', '--older-than', '30d', '--json'])
    assert.equal(done.status, 0)
    const result = JSON.parse(done.stdout) as {before: string}
    assert.ok(Math.abs(Date.parse(result.before) - (Date.now() - 30 * DAY)) < 60_000, result.before)
    assert.deepEqual(result, {olderThan: '30d', before: result.before, type: 'all', user: null, messages: 2, roomMessages: 2, dryRun: false})
    assert.deepEqual(remaining(), [{username: 'alice', n: 1}, {username: 'bob', n: 1}, {room: 'room tea', n: 1}])
  })

  it('purges only the accounts\' archives with --type chat, only the rooms\' with --type groupchat', async (t) => {
    const {cli, remaining} = await setup(t)
    const chat = await cli(['mam', 'purge', '--older-than', '30d', '--type', 'chat'])
    assert.equal(chat.status, 0)
    assert.match(chat.stdout, /^deleted 2 archived messages of accounts older than 30d \(before [^)]+\)\n$/)
    assert.deepEqual(remaining(), [{username: 'alice', n: 1}, {username: 'bob', n: 1}, {room: 'room tea', n: 3}])
    const groupchat = await cli(['mam', 'purge', '--older-than', '12h', '--type', 'groupchat', '--json'])
    assert.equal(groupchat.status, 0)
    assert.deepEqual({...(JSON.parse(groupchat.stdout) as object), before: undefined}, {olderThan: '12h', before: undefined, type: 'groupchat', user: null, messages: null, roomMessages: 3, dryRun: false})
    assert.deepEqual(remaining(), [{username: 'alice', n: 1}, {username: 'bob', n: 1}])
  })

  it('purges one account\'s archive with --user', async (t) => {
    const {cli, remaining} = await setup(t)
    const done = await cli(['mam', 'purge', '--older-than', '12h', '--user', 'Alice@example.org'])
    assert.equal(done.status, 0)
    assert.match(done.stdout, /^deleted 2 archived messages of alice@example\.org older than 12h \(before [^)]+\)\n$/)
    assert.deepEqual(remaining(), [{username: 'bob', n: 2}, {room: 'room tea', n: 3}])
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
    assert.deepEqual(await cli(['mam', 'purge', '--older-than', '1d', '--user', 'alice@example.org', '--type', 'groupchat']), {
      status: 2,
      stdout: '',
      stderr: "error: --user names an account, whose archive holds no room messages (drop --user to purge the rooms' archives, or use --type chat)\n",
    })
    const unknown = await cli(['mam', 'purge', '--older-than', '1d', '--type', 'rooms'])
    assert.equal(unknown.status, 2)
    assert.match(unknown.stderr, /Expected --type=rooms to be one of: all, chat, groupchat/)
    assert.deepEqual(remaining(), [{username: 'alice', n: 2}, {username: 'bob', n: 2}, {room: 'room tea', n: 3}])
  })
})
