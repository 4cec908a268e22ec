/**
 * Real clients log in to the bundled server through LDAP (issue 16): a
 * private slapd (test/integration/auth/slapd.ts) over LDAPS, the server with
 * auth_method [ldap] and an empty internal store. slixmpp (UTF-8 PLAIN) logs
 * in alice, whose password holds ":" and "€", and bob, whose password is 200
 * bytes; @xmpp/client sees PLAIN as the only mechanism, and a wrong password
 * gets not-authorized.
 */
import assert from 'node:assert/strict'
import {after, before, describe, it} from 'node:test'

import {startTestServer, type TestServer} from '../integration/server/helpers.js'
import {BASE, SERVICE_DN, SERVICE_PASSWORD, type Slapd, USERS, slapdUnavailable, startSlapd} from '../integration/auth/slapd.js'
import {connect, runSlixmpp, slixmppAvailable} from './clients.js'

const skip = slapdUnavailable() || (slixmppAvailable || process.env.CI === 'true' ? false : 'python3-slixmpp is not installed')

describe('real clients log in to xmppctl start through LDAP (PLAIN over TLS)', {skip}, () => {
  let slapd: Slapd
  let server: TestServer
  const cleanups: Array<() => unknown> = []
  const holder = {after: (fn: () => unknown) => cleanups.push(fn)}
  before(async () => {
    slapd = await startSlapd(holder)
    server = await startTestServer(holder, {
      settings: {
        auth_method: ['ldap'],
        ldap_servers: ['127.0.0.1'],
        ldap_port: slapd.ldapsPort,
        ldap_encrypt: 'tls',
        ldap_tls_cacertfile: slapd.caFile,
        ldap_rootdn: SERVICE_DN,
        ldap_password: SERVICE_PASSWORD,
        ldap_base: BASE,
      },
    })
  })
  after(async () => {
    for (const fn of cleanups.reverse()) await fn()
  })

  it('slixmpp logs in alice (":" and "€") and bob (200 bytes) with PLAIN, and a wrong password fails', async () => {
    for (const [user, password] of [['alice', USERS.alice], ['bob', USERS.bob]] as const) {
      const events = await runSlixmpp({jid: `${user}@localhost`, password, mechanism: 'PLAIN', port: server.starttlsPort, timeout: 10})
      const session = events.find((event) => event.event === 'session')
      assert.ok(session, JSON.stringify(events))
      assert.equal(session.mechanism, 'PLAIN')
      assert.match(String(session.jid), new RegExp(`^${user}@localhost/.+`))
    }

    const refused = await runSlixmpp({jid: 'alice@localhost', password: 'pa:ss wörd', mechanism: 'PLAIN', port: server.starttlsPort, timeout: 10})
    assert.ok(refused.some((event) => event.event === 'failed_auth'), JSON.stringify(refused))
    assert.ok(!refused.some((event) => event.event === 'session'), JSON.stringify(refused))
  })

  it('@xmpp/client is offered PLAIN only (no SCRAM: LDAP holds no SCRAM credentials) and logs carol in', async (t) => {
    const carol = await connect(t, server, {username: 'carol', password: USERS.carol, mechanism: 'PLAIN', timeout: 10_000})
    assert.deepEqual(carol.offered, ['PLAIN'])
    assert.match(carol.jid, /^carol@localhost\/.+/)
    await carol.xmpp.stop()
    await assert.rejects(connect(t, server, {username: 'carol', password: 'wrong', mechanism: 'PLAIN', timeout: 10_000}), {name: 'SASLError', condition: 'not-authorized'})
  })
})
