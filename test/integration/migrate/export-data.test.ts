/**
 * user export writes every account with its data (roster, requests,
 * vCard, offline messages, private XML, PEP, archive) as XEP-0227, and
 * user import reads it back into another store unchanged: the round trip.
 */
import assert from 'node:assert/strict'
import {mkdirSync, readFileSync, readdirSync, statSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {describe, it} from 'node:test'

import Database from '../../../src/store/sqlite/driver.js'

import {STORE_FILE} from '../../../src/store/sqlite/index.js'
import {PROJECT_ROOT, runCli, tempDir, writeConfig} from '../../helpers.js'

const FIXTURES = ['user-data.xml', 'pep-archive.xml'].map((name) => path.join(PROJECT_ROOT, 'test', 'fixtures', 'migrate', name))

/** Each table of per-account data, in a stable order, without row ids and times the import sets. */
const TABLES: Record<string, string> = {
  roster: 'SELECT host, username, contact, name, subscription, ask, approved, groups FROM roster_items ORDER BY host, username, contact',
  requests: 'SELECT host, username, contact, stanza FROM subscription_requests ORDER BY host, username, contact',
  vcards: 'SELECT host, username, vcard FROM vcards ORDER BY host, username',
  offline: 'SELECT host, username, stanza, created_at FROM offline_messages ORDER BY host, username, id',
  private: 'SELECT host, username, namespace, name, xml FROM private_storage ORDER BY host, username, namespace, name',
  pepNodes: 'SELECT host, username, node, access_model, persist_items, max_items, send_last_published_item FROM pep_nodes ORDER BY host, username, node',
  pepItems: 'SELECT host, username, node, item_id, payload, publisher FROM pep_items ORDER BY host, username, node, seq',
  archive: 'SELECT host, username, id, with_jid, with_resource, stanza FROM archive_messages ORDER BY host, username, id',
  pepSubscriptions: 'SELECT host, username, node, subscriber FROM pep_subscriptions ORDER BY host, username, node, subscriber',
}

function dump(dataDir: string): Record<string, unknown[]> {
  const db = new Database(path.join(dataDir, STORE_FILE), {readonly: true})
  try {
    return Object.fromEntries(Object.entries(TABLES).map(([name, sql]) => [name, db.prepare(sql).all()]))
  } finally {
    db.close()
  }
}

describe('user export writes all per-account data as XEP-0227, and import reads it back', () => {
  it('round-trips roster, pending requests, vCard, offline messages, private XML, PEP nodes and items, and the archive', async (t) => {
    const from = tempDir(t)
    writeConfig(from, 'hosts: [localhost]\nauth_scram_iterations: 4096\n')
    for (const fixture of FIXTURES) {
      // alice of the second fixture would exist already (an existing account's data is left alone): she is alice2 there.
      const text = readFileSync(fixture, 'utf8')
      const copy = path.join(from, path.basename(fixture))
      writeFileSync(copy, fixture === FIXTURES[1] ? text.replace("<user name='alice'", "<user name='alice2'") : text)
      const result = await runCli(['user', 'import', copy, '--from', 'xep0227'], {cwd: from})
      assert.equal(result.status, 0, result.stderr)
    }

    const before = dump(path.join(from, 'data'))
    assert.deepEqual(Object.values(before).map((rows) => rows.length), [4, 1, 1, 2, 1, 4, 4, 3, 2])

    const exported = await runCli(['user', 'export', 'out.xml', '--to', 'xep0227', '--json'], {cwd: from})
    assert.equal(exported.status, 0, exported.stderr)
    const summary = JSON.parse(exported.stdout)
    assert.equal(summary.accounts, 3)
    assert.deepEqual(summary.data, {rosterItems: 4, subscriptionRequests: 1, vcards: 1, offlineMessages: 2, privateItems: 1, pepNodes: 4, pepItems: 4, archivedMessages: 3})
    const file = path.join(from, 'out.xml')
    assert.equal(statSync(file).mode & 0o777, 0o600)
    const xml = readFileSync(file, 'utf8')
    // The shapes ejabberd's import_piefxis and Prosody's mod_storage_xep0227 read.
    assert.match(xml, /<query xmlns='jabber:iq:roster'><item jid='bob@localhost' name='Bob &amp; co' subscription='both'><group>Friends<\/group><group>Work<\/group><\/item>/)
    assert.match(xml, /<item jid='erin@example.net' subscription='none' ask='subscribe'\/>/)
    assert.match(xml, /<presence xmlns='jabber:client' type='subscribe' from='frank@example.net' to='alice@localhost'><status>let me in<\/status><\/presence>/)
    assert.match(xml, /<offline-messages><message xmlns='jabber:client' from='bob@localhost\/pc' to='alice@localhost' type='chat' id='m1'><body>first<\/body><delay xmlns='urn:xmpp:delay' from='localhost' stamp='2023-01-02T03:04:05.000Z'\/><\/message>/)
    assert.match(xml, /<configure node='urn:xmpp:bookmarks:1'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>http:\/\/jabber.org\/protocol\/pubsub#node_config<\/value><\/field><field var='pubsub#access_model'><value>whitelist<\/value><\/field><field var='pubsub#persist_items'><value>true<\/value><\/field><field var='pubsub#max_items'><value>max<\/value><\/field><field var='pubsub#send_last_published_item'><value>never<\/value><\/field><\/x><\/configure>/)
    assert.match(xml, /<subscriptions node='urn:xmpp:avatar:metadata'><subscription jid='bob@example\.net' subscription='subscribed'\/><subscription jid='carol@localhost\/phone' subscription='subscribed'\/><\/subscriptions>/)
    assert.match(xml, /<archive xmlns='urn:xmpp:pie:0#mam'><result xmlns='urn:xmpp:mam:2' id='1672653600000000'><forwarded xmlns='urn:xmpp:forward:0'><delay xmlns='urn:xmpp:delay' stamp='2023-01-02T10:00:00.000Z'\/><message xmlns='jabber:client' from='bob@localhost\/pc'/)

    const to = tempDir(t)
    writeConfig(to, 'hosts: [localhost]\nauth_scram_iterations: 4096\n')
    const imported = await runCli(['user', 'import', file, '--from', 'xep0227', '--json'], {cwd: to})
    assert.equal(imported.status, 0, imported.stderr)
    assert.deepEqual(JSON.parse(imported.stdout).data, summary.data)
    const after = dump(path.join(to, 'data'))
    // Offline stamps and archive dates survive; the rest is the same row for row.
    assert.deepEqual(after, before)
    const login = await runCli(['user', 'check', 'alice2@localhost', '--password-stdin'], {cwd: to, stdin: 'alice pw\n'})
    assert.equal(login.status, 0, login.stderr)
  })

  it('--ejabberd leaves out PEP and the archive, which import_piefxis does not read; --prosody writes one <user>@<host>.xml per account', async (t) => {
    const dir = tempDir(t)
    writeConfig(dir, 'hosts: [localhost]\nauth_scram_iterations: 4096\n')
    assert.equal((await runCli(['user', 'import', FIXTURES[1], '--from', 'xep0227'], {cwd: dir})).status, 0)
    const ejabberd = await runCli(['user', 'export', 'e.xml', '--to', 'xep0227', '--ejabberd', '--json'], {cwd: dir})
    assert.equal(ejabberd.status, 0, ejabberd.stderr)
    assert.deepEqual([JSON.parse(ejabberd.stdout).data.pepItems, JSON.parse(ejabberd.stdout).data.archivedMessages], [0, 0])
    assert.doesNotMatch(readFileSync(path.join(dir, 'e.xml'), 'utf8'), /pubsub|urn:xmpp:pie:0#mam/)

    mkdirSync(path.join(dir, 'users'))
    const prosody = await runCli(['user', 'export', 'users', '--to', 'xep0227', '--prosody'], {cwd: dir})
    assert.equal(prosody.status, 0, prosody.stderr)
    assert.match(prosody.stdout, /^exported 1 account to users \(one file per account\)\ndata: PEP nodes 4, PEP items 4, archived messages 3\n$/)
    assert.deepEqual(readdirSync(path.join(dir, 'users')), ['alice@localhost.xml'])
    const user = readFileSync(path.join(dir, 'users', 'alice@localhost.xml'), 'utf8')
    assert.match(user, /^<\?xml version="1.0" encoding="UTF-8"\?>\n<server-data xmlns="urn:xmpp:pie:0">\n<host jid="localhost">\n<user name="alice">\n {2}<scram-credentials xmlns="urn:xmpp:pie:0#scram" mechanism="SCRAM-SHA-1">/)
    assert.match(user, /<\/user>\n<\/host>\n<\/server-data>\n$/)
  })
})
