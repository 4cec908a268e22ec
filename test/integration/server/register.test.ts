/**
 * mod_register (XEP-0077) for logged-in users: password change (§3.3) and
 * account removal (§3.2). Each test sends a stanza and checks the exact
 * answer, then what a login sees afterwards.
 */
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'


import {passwordEntropy} from '../../../src/server/modules/register.js'
import {RawClient, header, iqReply, loginRaw, openSecured, startWithUsers as withUsers, storeQuery} from './helpers.js'
import {plainAuth, verdict} from './sasl-attempts.js'

async function ask(client: RawClient, stanza: string): Promise<string> {
  client.write(stanza)
  return iqReply(client, /id='([^']+)'/.exec(stanza)![1])
}

const error = (id: string, to: string, type: string, condition: string, text: string, from?: string) =>
  `<iq type='error' id='${id}'${from ? ` from='${from}'` : ''} to='${to}'><error type='${type}'><${condition} xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>` +
  `<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas' xml:lang='en'>${text}</text></error></iq>`

const change = (id: string, username: string, password: string, to = '') =>
  `<iq type='set' id='${id}'${to ? ` to='${to}'` : ''}><query xmlns='jabber:iq:register'><username>${username}</username><password>${password}</password></query></iq>`

/** One PLAIN login after STARTTLS: `success` or the SASL failure condition. */
async function login(port: number, username: string, password: string): Promise<string> {
  const client = await openSecured(port)
  try {
    client.write(plainAuth(username, password))
    return await verdict(client)
  } finally {
    client.end()
  }
}

describe('password change (mod_register, XEP-0077 §3.3)', () => {
  it('changes the password: the new one logs in, the old one fails, other sessions end and the changing one stays', async (t) => {
    const test = await withUsers(t, {}, 'alice')
    const alice = await loginRaw(t, test.starttlsPort, 'alice', 'alice pw', {resource: 'pc', presence: false})
    const other = await loginRaw(t, test.starttlsPort, 'alice', 'alice pw', {resource: 'phone', presence: false})
    assert.equal(await ask(alice, change('c1', 'alice', 'a much better secret', 'localhost')), `<iq type='result' id='c1' from='localhost' to='alice@localhost/pc'/>`)
    assert.match(await other.until(/<\/stream:stream>/), /<reset xmlns='urn:ietf:params:xml:ns:xmpp-streams'\/><text [^>]*>the password was changed<\/text>/)
    assert.equal(await login(test.starttlsPort, 'alice', 'a much better secret'), 'success')
    assert.equal(await login(test.starttlsPort, 'alice', 'alice pw'), 'not-authorized')
    // The session that changed it goes on.
    assert.equal(await ask(alice, "<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>"), `<iq type='result' id='p1' to='alice@localhost/pc'/>`)

    // The same credentials as "xmppctl user passwd": every configured hash, the configured iterations.
    assert.deepEqual(await storeQuery(test.config, "SELECT hash, iterations FROM scram_credentials WHERE username = 'alice' ORDER BY hash"), [
      {hash: 'sha1', iterations: 4096},
      {hash: 'sha256', iterations: 4096},
    ])
  })

  it('takes a change with no "to" and a username written in another case', async (t) => {
    const test = await withUsers(t, {}, 'alice')
    const alice = await loginRaw(t, test.starttlsPort, 'alice', 'alice pw', {presence: false})
    assert.equal(await ask(alice, change('c1', 'Alice', 'new secret')), `<iq type='result' id='c1' to='${alice.jid}'/>`)
    assert.equal(await login(test.starttlsPort, 'alice', 'new secret'), 'success')
  })

  it("refuses an empty password, a missing field, another account's username and a weak password, and the password stays", async (t) => {
    const test = await withUsers(t, {settings: {modules: {mod_roster: {}, mod_register: {password_strength: 50, access_remove: 'all'}}}}, 'alice', 'bob')
    const alice = await loginRaw(t, test.starttlsPort, 'alice', 'alice pw', {presence: false})
    const to = alice.jid
    assert.equal(await ask(alice, change('e1', 'alice', '')), error('e1', to, 'modify', 'bad-request', 'the password is empty'))
    assert.equal(
      await ask(alice, "<iq type='set' id='e2'><query xmlns='jabber:iq:register'><password>x</password></query></iq>"),
      error('e2', to, 'modify', 'bad-request', 'a password change needs &lt;username/&gt; and &lt;password/&gt;'),
    )
    assert.equal(await ask(alice, change('e3', 'bob', 'taken over!')), error('e3', to, 'cancel', 'not-allowed', "changing another account's password is not allowed"))
    // 8 lower-case letters: 8 × log2(26) ≈ 37.6 bits, under 50.
    assert.equal(await ask(alice, change('e4', 'alice', 'abcdefgh')), error('e4', to, 'modify', 'not-acceptable', 'the password is too weak: make it longer, or mix letters, digits and symbols'))
    assert.equal(await ask(alice, change('e5', 'alice', 'private\uE000use and more')), error('e5', to, 'modify', 'not-acceptable', 'the password contains a private-use character (U+E000) at position 8, which SASLprep (RFC 4013) forbids'))
    assert.equal(await login(test.starttlsPort, 'alice', 'alice pw'), 'success')
    assert.equal(await login(test.starttlsPort, 'bob', 'bob pw'), 'success')
    // Long enough passes the same threshold: 11 × log2(26) ≈ 51.7 bits.
    assert.equal(await ask(alice, change('ok', 'alice', 'abcdefghijk')), `<iq type='result' id='ok' to='${to}'/>`)
  })

  it('answers a registered user\'s form request with <registered/> and the username (§3.1)', async (t) => {
    const test = await withUsers(t, {}, 'alice')
    const alice = await loginRaw(t, test.starttlsPort, 'alice', 'alice pw', {presence: false})
    assert.equal(
      await ask(alice, "<iq type='get' id='g1' to='localhost'><query xmlns='jabber:iq:register'/></iq>"),
      `<iq type='result' id='g1' from='localhost' to='${alice.jid}'><query xmlns='jabber:iq:register'><registered/><username>alice</username><password/></query></iq>`,
    )
  })

  it('is not advertised as a stream feature before authentication, since registration is off', async (t) => {
    const test = await withUsers(t, {})
    const client = await RawClient.connect(test.starttlsPort)
    t.after(() => client.end())
    client.write(header())
    assert.doesNotMatch(await client.until(/<\/stream:features>/), /iq-register/)
  })

  it('measures entropy as ejabberd does: length times log2 of the classes used', () => {
    assert.equal(passwordEntropy(''), 0)
    assert.equal(passwordEntropy('aaaa'), 4 * Math.log2(26))
    assert.equal(passwordEntropy('aA1!'), 4 * Math.log2(26 + 26 + 10 + 33))
    assert.equal(passwordEntropy('é'), 2 * Math.log2(128))
  })
})

describe('account removal (mod_register, XEP-0077 §3.2)', () => {
  it('removes the account with all its data and ends its sessions, the requester\'s after the answer', async (t) => {
    const test = await withUsers(t, {}, 'alice', 'bob')
    const alice = await loginRaw(t, test.starttlsPort, 'alice', 'alice pw', {presence: false})
    const other = await loginRaw(t, test.starttlsPort, 'alice', 'alice pw', {presence: false})
    await ask(alice, "<iq type='set' id='r0'><query xmlns='jabber:iq:roster'><item jid='bob@localhost'/></query></iq>")
    alice.write("<iq type='set' id='rm'><query xmlns='jabber:iq:register'><remove/></query></iq>")
    assert.match(await alice.until(/<\/stream:stream>/), new RegExp(`<iq type='result' id='rm' to='${alice.jid}'/><stream:error><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>`))
    assert.match(await other.until(/<\/stream:stream>/), /<not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'\/><text [^>]*>the account was deleted<\/text>/)
    assert.equal(await login(test.starttlsPort, 'alice', 'alice pw'), 'not-authorized')
    assert.deepEqual(await storeQuery(test.config, "SELECT count(*) AS n FROM roster_items WHERE username = 'alice'"), [{n: 0}])
    assert.equal(await login(test.starttlsPort, 'bob', 'bob pw'), 'success')
  })

  it('refuses removal with forbidden when access_remove is none', async (t) => {
    const test = await withUsers(t, {settings: {modules: {mod_roster: {}, mod_register: {password_strength: 0, access_remove: 'none'}}}}, 'alice')
    const alice = await loginRaw(t, test.starttlsPort, 'alice', 'alice pw', {presence: false})
    assert.equal(
      await ask(alice, "<iq type='set' id='rm'><query xmlns='jabber:iq:register'><remove/></query></iq>"),
      error('rm', alice.jid, 'auth', 'forbidden', 'removing accounts in-band is switched off on this server (mod_register access_remove)'),
    )
    assert.equal(await login(test.starttlsPort, 'alice', 'alice pw'), 'success')
  })
})
