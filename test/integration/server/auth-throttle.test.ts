/**
 * Authentication throttling over real connections (hardening issue): the
 * limits hold against parallel attempts, a login to one's own account does
 * not buy new guesses, every spelling of an account shares its count, and the
 * owner who knows the password is not locked out by someone who does not.
 * Plain-text listeners (PLAIN allowed without TLS) keep the attempts cheap;
 * clients connect from other loopback addresses to act as other hosts.
 */
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import type {Settings} from '../../../src/config/schema.js'
import {createLogger} from '../../../src/server/log.js'
import type {ServerOptions} from '../../../src/server/server.js'
import {RawClient, header, startTestServer} from './helpers.js'
import {SASL, open, plain, plainAuth, verdict} from './sasl-attempts.js'

const plaintext: Partial<Settings> = {
  listen: [{port: 0, ip: '127.0.0.1', module: 'c2s', starttls: 'disabled', tls: false}],
  c2s_require_encryption: false,
  allow_unencrypted_plain_auth: true,
}

async function server(t: {after(fn: () => unknown): void}, options: ServerOptions = {}) {
  const test = await startTestServer(t, {settings: plaintext, server: options})
  return {...test, port: test.starttlsPort}
}

/** SCRAM-SHA-1's first step for `n=` (escaped as sent), with the client-first in <auth/> or, after an empty one, in <response/>. */
async function scramFirst(port: number, saslname: string, initialResponse = true): Promise<string> {
  const client = await open(port)
  try {
    const first = Buffer.from(`n,,n=${saslname},r=fyko+d2lbbFgONRv9qkxdawL`).toString('base64')
    if (initialResponse) client.write(`<auth xmlns='${SASL}' mechanism='SCRAM-SHA-1'>${first}</auth>`)
    else {
      client.write(`<auth xmlns='${SASL}' mechanism='SCRAM-SHA-1'/>`)
      assert.equal(await verdict(client), 'challenge')
      client.write(`<response xmlns='${SASL}'>${first}</response>`)
    }

    return await verdict(client)
  } finally {
    client.end()
  }
}

function tally(results: string[]): Record<string, number> {
  const counts: Record<string, number> = {}
  for (const result of results) counts[result] = (counts[result] ?? 0) + 1
  return counts
}

describe('authentication throttling', () => {
  it('gives parallel attempts on one account from one address no more verdicts than the limit (10)', async (t) => {
    const test = await server(t)
    await test.addUser('alice@localhost', 'correct horse')
    const results = await Promise.all(Array.from({length: 40}, () => plain(test.port, 'alice', 'wrong')))
    assert.deepEqual(tally(results), {'not-authorized': 10, 'temporary-auth-failure': 30})
  })

  it('gives parallel attempts on many accounts from one address no more verdicts than the address limit (30)', async (t) => {
    const test = await server(t)
    const results = await Promise.all(Array.from({length: 60}, (_, index) => plain(test.port, `user${index}`, 'wrong')))
    assert.deepEqual(tally(results), {'not-authorized': 30, 'temporary-auth-failure': 30})
  })

  it('lets more good logins from one address at once than its failure limit through: they wait for each other, not refused', async (t) => {
    const test = await server(t, {throttle: {addressFailures: 2}})
    for (let index = 0; index < 40; index++) await test.addUser(`user${index}@localhost`, 'right')
    // Streams opened first, then every <auth/> written at once, so that the attempts are in flight together.
    const clients = await Promise.all(Array.from({length: 40}, () => open(test.port, '127.0.0.7')))
    t.after(() => clients.forEach((client) => client.end()))
    for (const [index, client] of clients.entries()) client.write(plainAuth(`user${index}`, 'right'))
    const results = await Promise.all(clients.map((client) => verdict(client)))
    assert.deepEqual(tally(results), {success: 40})
  })

  it('does not forget an address\'s failures when it logs in to its own account', async (t) => {
    const test = await server(t)
    await test.addUser('mallory@localhost', 'mine')
    const results: string[] = []
    for (let round = 0; round < 4; round++) {
      // 9 guesses on other accounts, then a login of one's own: 36 guesses against a limit of 30.
      for (let guess = 0; guess < 9; guess++) results.push(await plain(test.port, `victim${round}x${guess}`, 'guess'))
      await plain(test.port, 'mallory', 'mine')
    }

    assert.deepEqual(tally(results), {'not-authorized': 30, 'temporary-auth-failure': 6})
  })

  it('counts every spelling of an account as that account', async (t) => {
    const test = await server(t)
    await test.addUser('u5@localhost', 'correct horse')
    await test.addUser('a,b@localhost', 'correct horse')
    for (let attempt = 0; attempt < 10; attempt++) {
      assert.equal(await plain(test.port, 'u5', 'wrong'), 'not-authorized')
      assert.equal(await plain(test.port, 'a,b', 'wrong'), 'not-authorized')
    }

    for (const [spelling, attempt] of [
      ['U5', () => plain(test.port, 'U5', 'wrong')],
      ['fullwidth ｕ５', () => plain(test.port, 'ｕ５', 'wrong')],
      ['u5@localhost as authcid', () => plain(test.port, 'u5@localhost', 'wrong')],
      ['SCRAM n=U5', () => scramFirst(test.port, 'U5')],
      ['SCRAM n=ｕ５ after an empty initial response', () => scramFirst(test.port, 'ｕ５', false)],
      ['SCRAM n=A=2CB', () => scramFirst(test.port, 'A=2CB')],
    ] as const) {
      assert.equal(await attempt(), 'temporary-auth-failure', spelling)
    }

    assert.equal(await plain(test.port, 'u6', 'wrong'), 'not-authorized', 'other accounts are not throttled')
  })

  it('lets the owner log in from another address after 10 wrong passwords', async (t) => {
    const test = await server(t)
    await test.addUser('alice@localhost', 'correct horse')
    for (let attempt = 0; attempt < 10; attempt++) assert.equal(await plain(test.port, 'alice', 'wrong', '127.0.0.3'), 'not-authorized')
    assert.equal(await plain(test.port, 'alice', 'wrong', '127.0.0.3'), 'temporary-auth-failure')
    assert.equal(await plain(test.port, 'alice', 'correct horse', '127.0.0.2'), 'success')
  })

  it('past the account-wide ceiling, still lets the owner in from an address that logged in before, and no one from a new one', async (t) => {
    const test = await server(t, {throttle: {accountFailures: 4}})
    await test.addUser('alice@localhost', 'correct horse')
    assert.equal(await plain(test.port, 'alice', 'correct horse', '127.0.0.2'), 'success')
    const attackers = ['127.0.0.3', '127.0.0.4', '127.0.0.5', '127.0.0.6']
    for (const from of attackers) assert.equal(await plain(test.port, 'alice', 'wrong', from), 'not-authorized')
    assert.equal(await plain(test.port, 'alice', 'wrong', '127.0.0.7'), 'temporary-auth-failure', 'a new address is refused')
    assert.equal(await plain(test.port, 'alice', 'correct horse', '127.0.0.8'), 'temporary-auth-failure', 'even with the password')
    assert.equal(await plain(test.port, 'alice', 'correct horse', '127.0.0.2'), 'success', 'the owner\'s address still logs in')
  })

  it('takes the per-account limits from the configuration: c2s_max_auth_failures_per_account_address, c2s_max_auth_failures_per_account, c2s_auth_known_address_lifetime', async (t) => {
    const test = await startTestServer(t, {
      settings: {...plaintext, c2s_max_auth_failures_per_account_address: 3, c2s_max_auth_failures_per_account: 5, c2s_auth_known_address_lifetime: 0},
    })
    await test.addUser('alice@localhost', 'correct horse')
    const port = test.starttlsPort
    assert.equal(await plain(port, 'alice', 'correct horse', '127.0.0.2'), 'success')
    const results = await Promise.all(Array.from({length: 8}, () => plain(port, 'alice', 'wrong', '127.0.0.3')))
    assert.deepEqual(tally(results), {'not-authorized': 3, 'temporary-auth-failure': 5})
    for (const from of ['127.0.0.4', '127.0.0.4']) assert.equal(await plain(port, 'alice', 'wrong', from), 'not-authorized')
    // Five failures in all: past the ceiling, and with no address known (lifetime 0), not even the owner's earlier one may try.
    assert.equal(await plain(port, 'alice', 'correct horse', '127.0.0.2'), 'temporary-auth-failure')
  })

  it('reports banned addresses and restricted accounts in status, with failures and until when', async (t) => {
    const test = await server(t, {throttle: {addressFailures: 3, accountFailures: 2, windowMs: 60_000}})
    assert.deepEqual(test.server.status().bans, [])
    const before = Date.now()
    for (const from of ['127.0.0.2', '127.0.0.3']) assert.equal(await plain(test.port, 'alice', 'wrong', from), 'not-authorized')
    for (let attempt = 0; attempt < 3; attempt++) assert.equal(await plain(test.port, `user${attempt}`, 'wrong', '127.0.0.4'), 'not-authorized')
    const {bans, restrictedAccounts} = test.server.status()
    assert.deepEqual(bans.map(({address, failures}) => [address, failures]), [['127.0.0.4', 3]])
    assert.deepEqual(restrictedAccounts.map(({account, failures}) => [account, failures]), [['alice@localhost', 2]])
    for (const {until} of [...bans, ...restrictedAccounts]) assert.ok(Date.parse(until) >= before + 60_000 && Date.parse(until) <= Date.now() + 60_000, until)
  })

  it('answers a throttled attempt with temporary-auth-failure, then closes the stream with policy-violation', async (t) => {
    const test = await server(t)
    for (let attempt = 0; attempt < 10; attempt++) assert.equal(await plain(test.port, 'nobody', 'wrong'), 'not-authorized')
    const client = await open(test.port)
    t.after(() => client.end())
    client.write(plainAuth('nobody', 'wrong'))
    const reply = await client.until(/<\/stream:stream>/)
    assert.match(reply, new RegExp(`^<failure xmlns='${SASL}'><temporary-auth-failure/><text xml:lang='en'>[^<]+</text></failure>`))
    assert.match(reply, /<stream:error><policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'\/>/)
    await client.waitClosed()
  })

  it('logs a flood of throttled attempts as one warning and a count', async (t) => {
    const lines: string[] = []
    const test = await server(t, {logger: createLogger('info', (line) => lines.push(line))})
    for (let attempt = 0; attempt < 30; attempt++) assert.equal(await plain(test.port, `nobody${attempt}`, 'wrong'), 'not-authorized')
    for (let attempt = 0; attempt < 50; attempt++) assert.equal(await plain(test.port, 'nobody', 'wrong'), 'temporary-auth-failure')
    await test.server.stop()
    const log = lines.join('')
    assert.equal(lines.filter((line) => /authentication throttled/.test(line)).length, 2, log)
    assert.match(log, /warn +c2s \d+ 127\.0\.0\.1: authentication throttled \(address limit\)\n/)
    assert.match(log, /warn +authentication throttled: 49 more like this in the last \d+ s\n/)
    assert.match(log, /info +stream error policy-violation: 49 more like this in the last \d+ s\n/)
    assert.ok(lines.length < 45, `${lines.length} lines for 80 attempts:\n${log}`)
  })

  it('escapes control and bidi characters a client sends before they reach the log', async (t) => {
    const lines: string[] = []
    const test = await server(t, {logger: createLogger('info', (line) => lines.push(line))})
    const client = await RawClient.connect(test.port)
    t.after(() => client.end())
    client.write(header('\u202eevil\u2028forged\u0085line'))
    assert.match(await client.until(/<\/stream:stream>/), /<host-unknown /)
    const log = lines.join('')
    assert.doesNotMatch(log, /[\u202e\u2028\u0085]/)
    assert.match(log, /this server does not serve \\u202eevil\\u2028forged\\x85line/)
  })
})
