/**
 * Per-account data both ways with Prosody 0.12's own code: our XEP-0227
 * export (--prosody, one file per account) is read by prosody-migrator
 * through mod_storage_xep0227 and written by mod_storage_internal into a
 * Prosody data directory; user import --from prosody reads that directory
 * (roster, pending requests, vCard, private XML, PEP nodes and items,
 * archive, and an offline store as mod_offline writes it) into another
 * store, which then holds the same rows.
 */
import assert from 'node:assert/strict'
import {execFile, execFileSync} from 'node:child_process'
import {chmodSync, chownSync, mkdirSync, readFileSync, readdirSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {describe, it} from 'node:test'
import {promisify} from 'node:util'

import Database from '../../../src/store/sqlite/driver.js'

import type {Element} from '../../../src/xml/element.js'
import {parseElement} from '../../../src/xml/parser.js'
import {STORE_FILE} from '../../../src/store/sqlite/index.js'
import {PROJECT_ROOT, runCli, tempDir, writeConfig} from '../../helpers.js'
import {which} from './servers.js'

const run = promisify(execFile)
// Under CI the test runs, and fails, without Prosody: it must not pass by skipping.
const unavailable = which('prosody-migrator') || process.env.CI === 'true' ? false : 'prosody-migrator not found: install Debian package prosody'

const FIXTURES = ['user-data.xml', 'pep-archive.xml'].map((name) => path.join(PROJECT_ROOT, 'test', 'fixtures', 'migrate', name))

const TABLES: Record<string, string> = {
  roster: 'SELECT host, username, contact, name, subscription, ask, approved, groups FROM roster_items ORDER BY host, username, contact',
  requests: 'SELECT host, username, contact FROM subscription_requests ORDER BY host, username, contact',
  vcards: 'SELECT host, username, vcard FROM vcards ORDER BY host, username',
  private: 'SELECT host, username, namespace, name, xml FROM private_storage ORDER BY host, username, namespace, name',
  pepNodes: 'SELECT host, username, node, access_model, persist_items, max_items, send_last_published_item FROM pep_nodes ORDER BY host, username, node',
  pepItems: 'SELECT host, username, node, item_id, payload, publisher FROM pep_items ORDER BY host, username, node, seq',
  archive: 'SELECT host, username, id, with_jid, with_resource, stanza FROM archive_messages ORDER BY host, username, id',
  offline: 'SELECT host, username, stanza, created_at FROM offline_messages ORDER BY host, username, id',
}

/** XML with each element's attributes in name order: Prosody keeps attributes in Lua tables, which have no order. */
function canonical(xml: string): string {
  const sorted = (element: Element): Element => {
    element.attrs = Object.fromEntries(Object.entries(element.attrs).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
    for (const child of element.elements()) sorted(child)
    return element
  }

  const element = parseElement(xml)
  assert.ok(element, xml)
  // Serialised as stored: a stanza kept without its namespace (jabber:client implied) stays without.
  return sorted(element).toString('urn:xmppctl:store')
}

const XML_COLUMNS = new Set(['vcard', 'xml', 'payload', 'stanza'])

function dump(dataDir: string): Record<string, unknown[]> {
  const db = new Database(path.join(dataDir, STORE_FILE), {readonly: true})
  const normalise = (row: Record<string, unknown>) => Object.fromEntries(Object.entries(row).map(([key, value]) => [key, XML_COLUMNS.has(key) ? canonical(value as string) : value]))
  try {
    return Object.fromEntries(Object.entries(TABLES).map(([name, sql]) => [name, (db.prepare(sql).all() as Array<Record<string, unknown>>).map(normalise)]))
  } finally {
    db.close()
  }
}

/** An offline message as Prosody 0.12's mod_offline stores it through mod_storage_internal (util.stanza preserialised, `when` in seconds). */
const OFFLINE_LIST = `item({
\t{
\t\t"are you there?";
\t\t["name"] = "body";
\t\t["attr"] = {
\t\t\t["xmlns"] = "jabber:client";
\t\t};
\t};
\t["when"] = 1672653600.25;
\t["attr"] = {
\t\t["id"] = "o1";
\t\t["to"] = "alice@localhost";
\t\t["stamp"] = "2023-01-02T10:00:00Z";
\t\t["type"] = "chat";
\t\t["xmlns"] = "jabber:client";
\t\t["from"] = "bob@localhost/pc";
\t};
\t["name"] = "message";
\t["key"] = "b0b1-0ff1";
});
`

describe('per-account data through Prosody 0.12 (prosody-migrator, mod_storage_xep0227 and mod_storage_internal)', {skip: unavailable}, () => {
  it('Prosody reads our --prosody export into its data directory, and user import --from prosody reads that back', async (t) => {
    const from = tempDir(t)
    writeConfig(from, 'hosts: [localhost]\nauth_scram_iterations: 4096\n')
    for (const fixture of FIXTURES) {
      const copy = path.join(from, path.basename(fixture))
      const text = readFileSync(fixture, 'utf8')
      writeFileSync(copy, fixture === FIXTURES[1] ? text.replace("<user name='alice'", "<user name='carl'") : text)
      assert.equal((await runCli(['user', 'import', copy, '--from', 'xep0227'], {cwd: from})).status, 0)
    }

    const work = tempDir(t)
    chmodSync(work, 0o755)
    const files = path.join(work, 'xep0227')
    const output = path.join(work, 'prosody')
    mkdirSync(files)
    const exported = await runCli(['user', 'export', files, '--to', 'xep0227', '--prosody'], {cwd: from})
    assert.equal(exported.status, 0, exported.stderr)
    assert.deepEqual(readdirSync(files).sort(), ['alice@localhost.xml', 'bob@localhost.xml', 'carl@localhost.xml'])
    // prosody-migrator, started as root, runs as the prosody user (util.startup.switch_user); the export is 0600.
    for (const name of readdirSync(files)) chmodSync(path.join(files, name), 0o644)
    mkdirSync(output)
    chownSync(output, Number(execFileSync('id', ['-u', 'prosody'], {encoding: 'utf8'})), Number(execFileSync('id', ['-g', 'prosody'], {encoding: 'utf8'})))

    // mod_storage_xep0227 reads <data_path>/<user>@<host>.xml, and prosody-migrator's data_path is Debian's
    // /var/lib/prosody: the export is mounted there in a mount namespace of this command alone.
    const config = path.join(work, 'migrator.cfg.lua')
    writeFileSync(
      config,
      `input {\n  type = "xep0227";\n  hosts = { ["localhost"] = { "accounts", "roster", "vcard", "private", "pep-pubsub", "archive-archive" } };\n}\n` +
        `output {\n  type = "internal";\n  path = ${JSON.stringify(output)};\n}\n`,
    )
    // --keep-going: prosody-migrator 0.12 also asks the archive for the host's own data, which a XEP-0227 file has not.
    const migrated = await run('unshare', ['--mount', 'sh', '-c', `mount --bind "$0" /var/lib/prosody && exec prosody-migrator --keep-going --config "$1" input output`, files, config], {timeout: 60_000})
    assert.match(migrated.stderr, /Done!/)
    const prosodyFile = (store: string, user: string, extension = 'dat') => readFileSync(path.join(output, 'localhost', store, `${user}.${extension}`), 'utf8')
    // What Prosody made of it, in its own format.
    assert.match(prosodyFile('roster', 'alice'), /\["ask"\] = "subscribe";/)
    assert.match(prosodyFile('roster', 'alice'), /\["pending"\] = \{\s*\["frank@example\.net"\] = true;/)
    assert.match(prosodyFile('vcard', 'alice'), /"Alice Liddell";/)
    assert.match(prosodyFile('pep', 'carl'), /\["urn:xmpp:bookmarks:1"\] = \{/)
    assert.match(prosodyFile('pep', 'carl'), /\["max_items"\] = "max";/)
    assert.match(prosodyFile('pep_urn%3axmpp%3abookmarks%3a1', 'carl', 'list'), /\["key"\] = "cake@conference\.localhost";/)
    assert.match(prosodyFile('archive', 'carl', 'list'), /\["when"\] = 1672653600;/)
    assert.match(prosodyFile('accounts', 'alice'), /\["iteration_count"\] = 4096;/)
    // mod_storage_xep0227 has no offline store: what mod_offline would have written.
    mkdirSync(path.join(output, 'localhost', 'offline'))
    writeFileSync(path.join(output, 'localhost', 'offline', 'alice.list'), OFFLINE_LIST)

    const to = tempDir(t)
    writeConfig(to, 'hosts: [localhost]\nauth_scram_iterations: 4096\n')
    const imported = await runCli(['user', 'import', path.join(output), '--from', 'prosody', '--json'], {cwd: to})
    assert.equal(imported.status, 0, imported.stderr)
    const summary = JSON.parse(imported.stdout)
    assert.equal(summary.counts.created, 3)
    assert.deepEqual(summary.data, {rosterItems: 4, subscriptionRequests: 1, vcards: 1, offlineMessages: 1, privateItems: 1, pepNodes: 4, pepItems: 4, archivedMessages: 3})
    assert.deepEqual(summary.dataProblems, [])

    const before = dump(path.join(from, 'data'))
    const after = dump(path.join(to, 'data'))
    for (const table of Object.keys(TABLES).filter((name) => name !== 'offline')) assert.deepEqual(after[table], before[table], table)
    assert.deepEqual(after.offline, [
      {
        host: 'localhost',
        username: 'alice',
        stanza: "<message from='bob@localhost/pc' id='o1' to='alice@localhost' type='chat'><body>are you there?</body><delay xmlns='urn:xmpp:delay' stamp='2023-01-02T10:00:00.250Z'/></message>",
        created_at: Date.parse('2023-01-02T10:00:00.250Z'),
      },
    ])
    const login = await runCli(['user', 'check', 'alice@localhost', '--password-stdin'], {cwd: to, stdin: 'alice pw\n'})
    assert.equal(login.status, 0, login.stderr)
  })
})
