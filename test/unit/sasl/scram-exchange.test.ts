import assert from 'node:assert/strict'
import {createHash} from 'node:crypto'
import {describe, it} from 'node:test'

import {normalizeLocalpart} from '../../../src/jid/index.js'
import type {ChannelBinding, SaslStep} from '../../../src/sasl/outcome.js'
import {SCRAM_HASHES, type ScramCredentials, type ScramHash, deriveScramCredentials} from '../../../src/sasl/scram.js'
import {ScramClient, ScramClientError} from '../../../src/sasl/scram-client.js'
import {downgradeProtectionHash} from '../../../src/sasl/scram-downgrade.js'
import {escapeSaslname, unescapeSaslname} from '../../../src/sasl/scram-messages.js'
import {ScramServer, type ScramServerOptions} from '../../../src/sasl/scram-server.js'
import {SCRAM_VECTORS, vectorCredentials} from './scram-vectors.js'

const SECRET = Buffer.from('a per-server secret of 32 bytes!')
const ITERATIONS = 16

/** A store with one account per entry, keyed by username, for `hash`. */
async function storeFor(hash: ScramHash, accounts: Record<string, string>): Promise<Map<string, ScramCredentials>> {
  const store = new Map<string, ScramCredentials>()
  for (const [username, password] of Object.entries(accounts)) {
    store.set(username, await deriveScramCredentials(password, hash, {iterations: ITERATIONS}))
  }

  return store
}

function serverWith(store: Map<string, ScramCredentials>, options: Partial<ScramServerOptions> & {hash: ScramHash}): ScramServer {
  return new ScramServer({
    lookup: async (username) => store.get(username),
    unknownUser: {secret: SECRET, iterations: ITERATIONS},
    ...options,
  })
}

/** Runs a whole exchange; returns the server's last step and whether the client accepted server-final. */
async function exchange(client: ScramClient, server: ScramServer): Promise<{last: SaslStep; clientVerified: boolean}> {
  const first = await server.step(client.firstMessage())
  if (first.type !== 'challenge') return {last: first, clientVerified: false}
  const last = await server.step(await client.finalMessage(first.data))
  if (last.type !== 'success') return {last, clientVerified: false}
  client.verifyServerFinal(last.data)
  return {last, clientVerified: true}
}

function text(step: SaslStep): string {
  assert.notEqual(step.type, 'failure', step.type === 'failure' ? `${step.condition}: ${step.reason}` : '')
  return (step as {data: Buffer}).data.toString('utf8')
}

describe('SCRAM exchange against the RFC vectors', () => {
  for (const vector of SCRAM_VECTORS) {
    it(`client produces the ${vector.source} messages byte for byte`, async () => {
      const client = new ScramClient({hash: vector.hash, username: vector.username, password: vector.password, nonce: () => vector.clientNonce})
      assert.equal(client.mechanism, vector.mechanism)
      assert.deepEqual(client.firstMessage(), Buffer.from(vector.clientFirst))
      assert.deepEqual(await client.finalMessage(Buffer.from(vector.serverFirst)), Buffer.from(vector.clientFinal))
      client.verifyServerFinal(Buffer.from(vector.serverFinal))
    })

    it(`server produces the ${vector.source} messages byte for byte`, async () => {
      const server = new ScramServer({
        hash: vector.hash,
        lookup: async (username) => (username === vector.username ? vectorCredentials(vector) : undefined),
        unknownUser: {secret: SECRET, iterations: 4096},
        nonce: () => vector.serverNonce,
      })
      const challenge = await server.step(Buffer.from(vector.clientFirst))
      assert.deepEqual(challenge, {type: 'challenge', data: Buffer.from(vector.serverFirst)})
      const success = await server.step(Buffer.from(vector.clientFinal))
      assert.deepEqual(success, {type: 'success', data: Buffer.from(vector.serverFinal), username: 'user'})
    })

    it(`client refuses a forged server signature for ${vector.source}`, async () => {
      const client = new ScramClient({hash: vector.hash, username: vector.username, password: vector.password, nonce: () => vector.clientNonce})
      await client.finalMessage(vector.serverFirst)
      const forged = `v=${Buffer.alloc(Buffer.from(vector.serverFinal.slice(2), 'base64').length).toString('base64')}`
      assert.throws(() => client.verifyServerFinal(forged), (error: unknown) => error instanceof ScramClientError && error.kind === 'server-signature')
    })
  }
})

describe('SCRAM client and server together', () => {
  for (const hash of SCRAM_HASHES) {
    it(`authenticates with the right password over ${hash}`, async () => {
      const server = serverWith(await storeFor(hash, {juliet: 'r0m€o'}), {hash})
      const result = await exchange(new ScramClient({hash, username: 'juliet', password: 'r0m€o'}), server)
      assert.equal(result.last.type, 'success')
      assert.equal(result.clientVerified, true)
      assert.equal((result.last as {username: string}).username, 'juliet')
    })

    it(`authenticates over ${hash}-PLUS with matching channel binding`, async () => {
      const binding = {type: 'tls-exporter', data: Buffer.from('exported keying material')}
      const server = serverWith(await storeFor(hash, {juliet: 'pw'}), {hash, plus: true, channelBindings: [binding]})
      const client = new ScramClient({hash, username: 'juliet', password: 'pw', channelBinding: binding})
      assert.equal(client.mechanism, server.mechanism)
      assert.equal((await exchange(client, server)).clientVerified, true)
    })

    it(`answers a wrong password with not-authorized over ${hash}`, async () => {
      const server = serverWith(await storeFor(hash, {juliet: 'pw'}), {hash})
      const {last} = await exchange(new ScramClient({hash, username: 'juliet', password: 'wrong'}), server)
      assert.equal(last.type, 'failure')
      assert.equal((last as {condition: string}).condition, 'not-authorized')
    })
  }

  it('accepts a SASLprep-equivalent spelling of the password', async () => {
    const server = serverWith(await storeFor('sha256', {juliet: 'pässwörd'}), {hash: 'sha256'})
    const client = new ScramClient({hash: 'sha256', username: 'juliet', password: 'pa\u0308sswo\u0308rd'})
    assert.equal((await exchange(client, server)).clientVerified, true)
  })

  it('refuses a second client-final after the exchange is over', async () => {
    const server = serverWith(await storeFor('sha1', {juliet: 'pw'}), {hash: 'sha1'})
    const client = new ScramClient({hash: 'sha1', username: 'juliet', password: 'pw'})
    const first = await server.step(client.firstMessage())
    const final = await client.finalMessage(text(first))
    assert.equal((await server.step(final)).type, 'success')
    assert.deepEqual(await server.step(final), {type: 'failure', condition: 'malformed-request', reason: 'the SCRAM exchange is already over'})
  })

  it('reports a store that cannot be read as temporary-auth-failure', async () => {
    const server = new ScramServer({
      hash: 'sha256',
      lookup: async () => {
        throw new Error('disk on fire')
      },
      unknownUser: {secret: SECRET, iterations: ITERATIONS},
    })
    const step = await server.step('n,,n=juliet,r=abc')
    assert.equal(step.type === 'failure' && step.condition, 'temporary-auth-failure')
  })
})

describe('SCRAM unknown users', () => {
  const serverFirstShape = /^r=clientnonce[!-+\--~]+,s=([A-Za-z0-9+/]+=*),i=(\d+)$/

  async function serverFirstFor(username: string, secret = SECRET): Promise<RegExpExecArray> {
    const store = await storeFor('sha256', {juliet: 'pw'})
    const server = new ScramServer({
      hash: 'sha256',
      lookup: async (name) => store.get(name),
      unknownUser: {secret, iterations: ITERATIONS},
      normalizeUsername: normalizeLocalpart,
    })
    const match = serverFirstShape.exec(text(await server.step(`n,,n=${username},r=clientnonce`)))
    assert.ok(match)
    return match
  }

  it('sends an unknown user a server-first of the same shape as a real one', async () => {
    const real = await serverFirstFor('juliet')
    const fake = await serverFirstFor('romeo')
    assert.equal(Buffer.from(fake[1], 'base64').length, Buffer.from(real[1], 'base64').length)
    assert.equal(fake[2], real[2])
  })

  it('gives the same unknown user the same salt every time, as a real account has', async () => {
    assert.equal((await serverFirstFor('romeo'))[1], (await serverFirstFor('romeo'))[1])
    assert.equal((await serverFirstFor('Romeo'))[1], (await serverFirstFor('romeo'))[1])
    assert.notEqual((await serverFirstFor('romeo'))[1], (await serverFirstFor('mercutio'))[1])
    assert.notEqual((await serverFirstFor('romeo'))[1], (await serverFirstFor('romeo', Buffer.alloc(32, 7)))[1])
  })

  it('fails an unknown user with not-authorized at the proof step, like a wrong password', async () => {
    const server = serverWith(new Map(), {hash: 'sha256'})
    const {last} = await exchange(new ScramClient({hash: 'sha256', username: 'romeo', password: 'pw'}), server)
    assert.deepEqual(last, {type: 'failure', condition: 'not-authorized', reason: 'wrong password or unknown user', scramError: 'invalid-proof'})
  })

  it('treats a username that cannot be a localpart as unknown, not as malformed', async () => {
    const server = serverWith(new Map(), {hash: 'sha256', normalizeUsername: normalizeLocalpart})
    assert.equal((await server.step('n,,n=rom eo,r=abc')).type, 'challenge')
  })

  it('refuses an unknown-user secret shorter than 16 bytes', () => {
    assert.throws(() => serverWith(new Map(), {hash: 'sha1', unknownUser: {secret: Buffer.alloc(8), iterations: 1}}), RangeError)
  })
})

describe('SCRAM server parsing (RFC 5802 §7)', () => {
  const malformedFirst = [
    {message: '', why: 'empty'},
    {message: 'n,,', why: 'a gs2 header alone'},
    {message: 'x,,n=juliet,r=abc', why: 'an unknown channel-binding flag'},
    {message: 'p=,,n=juliet,r=abc', why: 'p= without a name'},
    {message: 'n,juliet,n=juliet,r=abc', why: 'an authzid without a='},
    {message: 'n,,m=ext,n=juliet,r=abc', why: 'a mandatory extension'},
    {message: 'n,,r=abc,n=juliet', why: 'attributes out of order'},
    {message: 'n,,n=juliet', why: 'no nonce'},
    {message: 'n,,n=juliet,r=', why: 'an empty nonce'},
    {message: 'n,,n=,r=abc', why: 'an empty username'},
    {message: 'n,,n=jul=2Biet,r=abc', why: 'an escape other than =2C and =3D'},
    {message: 'n,,n=juliet=,r=abc', why: 'a bare "=" in the username'},
    {message: 'n,,n=jul\0iet,r=abc', why: 'NUL in the username'},
    {message: 'n,,n=juliet,r=ab\u00e9', why: 'a non-ASCII nonce'},
    {message: 'n,,n=juliet,r=abc,1=x', why: 'an extension whose name is not a letter'},
    {message: 'n,,n=juliet,r=abc,x=', why: 'an empty extension value'},
    {message: 'n,,n=juliet,r=abc,,', why: 'trailing commas'},
    {message: 'p=tls-exporter,,n=juliet,r=abc', why: 'channel binding on a mechanism without -PLUS'},
    {message: Buffer.from([0x6e, 0x2c, 0x2c, 0x6e, 0x3d, 0xff, 0x2c, 0x72, 0x3d, 0x61]), why: 'invalid UTF-8'},
  ]
  for (const {message, why} of malformedFirst) {
    it(`answers a client-first with ${why} with malformed-request`, async () => {
      const step = await serverWith(new Map(), {hash: 'sha256'}).step(message)
      assert.equal(step.type === 'failure' && step.condition, 'malformed-request')
    })
  }

  it('ignores unknown extensions after the nonce (RFC 5802 §5)', async () => {
    const step = await serverWith(new Map(), {hash: 'sha256'}).step('n,,n=juliet,r=abc,x=anything=goes')
    assert.equal(step.type, 'challenge')
  })

  const malformedFinal = [
    {final: (nonce: string) => `c=biws,r=${nonce}`, why: 'no proof'},
    {final: (nonce: string) => `r=${nonce},c=biws,p=AAAA`, why: 'attributes out of order'},
    {final: (nonce: string) => `c=biws,r=${nonce},p=not base64!`, why: 'a proof that is not base64'},
    {final: (nonce: string) => `c=b-ws,r=${nonce},p=AAAA`, why: 'channel binding that is not base64'},
    {final: (nonce: string) => `c=biws,r=${nonce}x,p=AAAA`, why: 'a nonce longer than the server sent'},
    {final: (nonce: string) => `c=biws,r=${nonce.slice(0, -1)},p=AAAA`, why: 'a truncated nonce'},
    {final: (nonce: string) => `c=biws,r=${nonce},1=x,p=AAAA`, why: 'a malformed extension'},
  ]
  for (const {final, why} of malformedFinal) {
    it(`answers a client-final with ${why} with malformed-request`, async () => {
      const server = serverWith(new Map(), {hash: 'sha256'})
      const nonce = /^r=([^,]+)/.exec(text(await server.step('n,,n=juliet,r=abc')))?.[1] ?? ''
      const step = await server.step(final(nonce))
      assert.equal(step.type === 'failure' && step.condition, 'malformed-request', JSON.stringify(step))
    })
  }

  it('answers a proof of the wrong length with not-authorized', async () => {
    const server = serverWith(await storeFor('sha256', {juliet: 'pw'}), {hash: 'sha256'})
    const nonce = /^r=([^,]+)/.exec(text(await server.step('n,,n=juliet,r=abc')))?.[1] ?? ''
    const step = await server.step(`c=biws,r=${nonce},p=AAAA`)
    assert.equal(step.type === 'failure' && step.condition, 'not-authorized')
  })
})

describe('SCRAM saslname escaping (RFC 5802 §5.1)', () => {
  const table = [
    {name: 'juliet', escaped: 'juliet'},
    {name: 'a,b', escaped: 'a=2Cb'},
    {name: 'a=b', escaped: 'a=3Db'},
    {name: '=,=,', escaped: '=3D=2C=3D=2C'},
    {name: 'ünïcode', escaped: 'ünïcode'},
  ]
  for (const {name, escaped} of table) {
    it(`escapes ${JSON.stringify(name)} as ${JSON.stringify(escaped)} and back`, () => {
      assert.equal(escapeSaslname(name), escaped)
      assert.equal(unescapeSaslname(escaped, 'username'), name)
    })
  }

  it('carries a username with "," and "=" through a whole exchange', async () => {
    const looked: string[] = []
    const store = await storeFor('sha256', {'ju,li=et': 'pw'})
    const server = new ScramServer({
      hash: 'sha256',
      lookup: async (username) => {
        looked.push(username)
        return store.get(username)
      },
      unknownUser: {secret: SECRET, iterations: ITERATIONS},
    })
    const client = new ScramClient({hash: 'sha256', username: 'ju,li=et', password: 'pw'})
    assert.match(client.firstMessage().toString(), /^n,,n=ju=2Cli=3Det,r=/)
    assert.equal((await exchange(client, server)).clientVerified, true)
    assert.deepEqual(looked, ['ju,li=et'])
  })
})

describe('SCRAM authorization identity', () => {
  it('passes an allowed authzid through and escapes it', async () => {
    const server = serverWith(await storeFor('sha256', {juliet: 'pw'}), {
      hash: 'sha256',
      authorize: (username, authzid) => authzid === `${username}@example.org`,
    })
    const client = new ScramClient({hash: 'sha256', username: 'juliet', password: 'pw', authzid: 'juliet@example.org'})
    assert.match(client.firstMessage().toString(), /^n,a=juliet@example\.org,n=juliet,/)
    const {last} = await exchange(client, server)
    assert.equal(last.type === 'success' && last.authzid, 'juliet@example.org')
  })

  it('refuses an authzid with invalid-authzid when nothing authorizes it', async () => {
    const server = serverWith(await storeFor('sha256', {juliet: 'pw'}), {hash: 'sha256'})
    const {last} = await exchange(new ScramClient({hash: 'sha256', username: 'juliet', password: 'pw', authzid: 'romeo@example.org'}), server)
    assert.equal(last.type === 'failure' && last.condition, 'invalid-authzid')
  })

  it('checks the password before the authzid, so invalid-authzid says nothing about the account', async () => {
    const server = serverWith(await storeFor('sha256', {juliet: 'pw'}), {hash: 'sha256'})
    const {last} = await exchange(new ScramClient({hash: 'sha256', username: 'juliet', password: 'no', authzid: 'romeo@example.org'}), server)
    assert.equal(last.type === 'failure' && last.condition, 'not-authorized')
  })
})

describe('SCRAM channel binding (RFC 5802 §6)', () => {
  const exporter: ChannelBinding = {type: 'tls-exporter', data: Buffer.from('the real channel')}
  const table: {
    why: string
    server: Partial<ScramServerOptions>
    client: {channelBinding?: ChannelBinding; supportsChannelBinding?: boolean}
    outcome: string
    scramError?: string
  }[] = [
    {why: 'binds when both see the same channel', server: {plus: true, channelBindings: [exporter]}, client: {channelBinding: exporter}, outcome: 'success'},
    {
      why: 'refuses bindings to a different channel (a man in the middle)',
      server: {plus: true, channelBindings: [exporter]},
      client: {channelBinding: {type: 'tls-exporter', data: Buffer.from('another channel')}},
      outcome: 'not-authorized',
      scramError: 'channel-bindings-dont-match',
    },
    {
      why: 'refuses "y" when -PLUS was offered (a downgrade)',
      server: {channelBindings: [exporter]},
      client: {supportsChannelBinding: true},
      outcome: 'not-authorized',
      scramError: 'server-does-support-channel-binding',
    },
    {why: 'accepts "y" when -PLUS was not offered', server: {}, client: {supportsChannelBinding: true}, outcome: 'success'},
    {
      why: 'honours advertisedPlus: false, as behind a TLS-terminating proxy',
      server: {channelBindings: [exporter], advertisedPlus: false},
      client: {supportsChannelBinding: true},
      outcome: 'success',
    },
    {why: 'accepts "n" when -PLUS was offered but not chosen', server: {channelBindings: [exporter]}, client: {}, outcome: 'success'},
    {
      why: 'refuses p= for a type the connection does not have',
      server: {plus: true, channelBindings: [exporter]},
      client: {channelBinding: {type: 'tls-unique', data: Buffer.from('x')}},
      outcome: 'malformed-request',
      scramError: 'unsupported-channel-binding-type',
    },
    {
      why: 'refuses p= when the server has no binding data at all',
      server: {plus: true},
      client: {channelBinding: exporter},
      outcome: 'malformed-request',
      scramError: 'unsupported-channel-binding-type',
    },
    {why: 'refuses "n" on a -PLUS mechanism', server: {plus: true, channelBindings: [exporter]}, client: {}, outcome: 'malformed-request'},
  ]
  for (const {why, server: serverOptions, client: clientOptions, outcome, scramError} of table) {
    it(why, async () => {
      const server = serverWith(await storeFor('sha256', {juliet: 'pw'}), {hash: 'sha256', ...serverOptions})
      const {last} = await exchange(new ScramClient({hash: 'sha256', username: 'juliet', password: 'pw', ...clientOptions}), server)
      assert.equal(last.type === 'failure' ? last.condition : last.type, outcome)
      if (scramError) assert.equal(last.type === 'failure' && last.scramError, scramError)
    })
  }

  it('sends the gs2 header and binding data in c= (RFC 5802 §5.1)', async () => {
    const client = new ScramClient({hash: 'sha256', username: 'juliet', password: 'pw', nonce: () => 'abc', channelBinding: exporter})
    assert.equal(client.firstMessage().toString(), 'p=tls-exporter,,n=juliet,r=abc')
    const final = (await client.finalMessage('r=abcdef,s=QSXCR+Q6sek8bf92,i=1')).toString()
    const binding = Buffer.from(/^c=([^,]+)/.exec(final)?.[1] ?? '', 'base64')
    assert.deepEqual(binding, Buffer.concat([Buffer.from('p=tls-exporter,,'), exporter.data]))
  })
})

describe('SCRAM client checks of the server', () => {
  const table = [
    {serverFirst: 'r=evil,s=QSXCR+Q6sek8bf92,i=4096', why: 'a nonce that does not start with the client nonce'},
    {serverFirst: 'r=abc,s=QSXCR+Q6sek8bf92,i=4096', why: 'a nonce that adds nothing to the client nonce'},
    {serverFirst: 'r=abcdef,s=QSXCR+Q6sek8bf92,i=0', why: 'zero iterations'},
    {serverFirst: 'r=abcdef,s=QSXCR+Q6sek8bf92,i=-1', why: 'negative iterations'},
    {serverFirst: 'r=abcdef,s=QSXCR+Q6sek8bf92,i=01', why: 'an iteration count with a leading zero'},
    {serverFirst: 'r=abcdef,s=QSXCR+Q6sek8bf92,i=99999999999', why: 'more iterations than allowed'},
    {serverFirst: 'r=abcdef,s=,i=4096', why: 'an empty salt'},
    {serverFirst: 'r=abcdef,s=%%%,i=4096', why: 'a salt that is not base64'},
    {serverFirst: 'm=x,r=abcdef,s=QSXCR+Q6sek8bf92,i=4096', why: 'a mandatory extension'},
    {serverFirst: 's=QSXCR+Q6sek8bf92,r=abcdef,i=4096', why: 'attributes out of order'},
  ]
  for (const {serverFirst, why} of table) {
    it(`refuses a server-first with ${why}`, async () => {
      const client = new ScramClient({hash: 'sha1', username: 'juliet', password: 'pw', nonce: () => 'abc'})
      await assert.rejects(client.finalMessage(serverFirst), (error: unknown) => error instanceof ScramClientError && error.kind === 'malformed')
    })
  }

  it('reports a server error (e=) as such', async () => {
    const client = new ScramClient({hash: 'sha1', username: 'juliet', password: 'pw', nonce: () => 'abc'})
    await client.finalMessage('r=abcdef,s=QSXCR+Q6sek8bf92,i=1')
    assert.throws(() => client.verifyServerFinal('e=invalid-proof'), /the server refused authentication: invalid-proof/)
  })

  it('refuses to verify before it has sent client-final', () => {
    const client = new ScramClient({hash: 'sha1', username: 'juliet', password: 'pw'})
    assert.throws(() => client.verifyServerFinal('v=AAAA'), (error: unknown) => error instanceof ScramClientError && error.kind === 'state')
  })

  it('refuses a password SASLprep refuses before sending anything', () => {
    assert.throws(() => new ScramClient({hash: 'sha1', username: 'juliet', password: 'pw\u0007'}), {code: 'password-invalid'})
  })
})

describe('SCRAM downgrade protection (XEP-0474)', () => {
  const exporter: ChannelBinding = {type: 'tls-exporter', data: Buffer.from('the real channel')}
  const announced = {mechanisms: ['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256', 'PLAIN'], channelBindingTypes: ['tls-exporter']}
  const trimmed = {mechanisms: ['SCRAM-SHA-256', 'PLAIN'], channelBindingTypes: []}

  it('hashes the lists as the XEP-0474 example does', () => {
    // XEP-0474 §4.3: SHA-1 of 'SCRAM-SHA-1\x1eSCRAM-SHA-1-PLUS\x1ftls-exporter\x1etls-server-end-point'.
    const example = {mechanisms: ['SCRAM-SHA-1-PLUS', 'SCRAM-SHA-1'], channelBindingTypes: ['tls-server-end-point', 'tls-exporter']}
    assert.equal(downgradeProtectionHash('sha1', example), 'G6k/rBLDqgOhRRaCuuatSDFkJ08=')
  })

  it('leaves the channel-binding part out when XEP-0440 was not used, and sorts by octets', () => {
    const expected = createHash('sha256').update('PLAIN\u001ESCRAM-SHA-1\u001ESCRAM-SHA-256').digest('base64')
    assert.equal(downgradeProtectionHash('sha256', {mechanisms: ['SCRAM-SHA-256', 'PLAIN', 'SCRAM-SHA-1'], channelBindingTypes: []}), expected)
  })

  it('sends h= in server-first, which a client that saw the same lists verifies', async () => {
    const server = serverWith(await storeFor('sha256', {juliet: 'pw'}), {hash: 'sha256', plus: true, channelBindings: [exporter], announced})
    const client = new ScramClient({hash: 'sha256', username: 'juliet', password: 'pw', channelBinding: exporter, announced})
    const first = await server.step(client.firstMessage())
    assert.match(text(first), new RegExp(`,i=${ITERATIONS},h=${downgradeProtectionHash('sha256', announced).replace(/[+/]/g, '\\$&')}$`))
    const last = await server.step(await client.finalMessage((first as {data: Buffer}).data))
    assert.equal(last.type, 'success')
    client.verifyServerFinal((last as {data: Buffer}).data)
    assert.equal(client.downgradeProtected, true)
  })

  it('lets the client catch lists trimmed on the way', async () => {
    const server = serverWith(await storeFor('sha256', {juliet: 'pw'}), {hash: 'sha256', channelBindings: [exporter], announced})
    // The client saw no -PLUS (stripped), so it would send "n" under XEP-0474's rule 6 and check h=.
    const client = new ScramClient({hash: 'sha256', username: 'juliet', password: 'pw', announced: trimmed})
    const first = await server.step(client.firstMessage())
    await assert.rejects(client.finalMessage((first as {data: Buffer}).data), (error: unknown) => error instanceof ScramClientError && error.kind === 'downgrade')
  })

  it('fails the proof when the man in the middle also rewrites h= to match his lists', async () => {
    const server = serverWith(await storeFor('sha256', {juliet: 'pw'}), {hash: 'sha256', channelBindings: [exporter], announced})
    const client = new ScramClient({hash: 'sha256', username: 'juliet', password: 'pw', announced: trimmed})
    const first = text(await server.step(client.firstMessage()))
    const forged = first.replace(/,h=[^,]+$/, `,h=${downgradeProtectionHash('sha256', trimmed)}`)
    const last = await server.step(await client.finalMessage(forged))
    assert.equal(last.type === 'failure' && last.condition, 'not-authorized')
  })

  it('refuses a server-first without h= only when the client requires it', async () => {
    const store = await storeFor('sha256', {juliet: 'pw'})
    const pinned = new ScramClient({hash: 'sha256', username: 'juliet', password: 'pw', announced, requireDowngradeProtection: true})
    const first = await serverWith(store, {hash: 'sha256'}).step(pinned.firstMessage())
    await assert.rejects(pinned.finalMessage((first as {data: Buffer}).data), (error: unknown) => error instanceof ScramClientError && error.kind === 'downgrade')
    const lenient = new ScramClient({hash: 'sha256', username: 'juliet', password: 'pw', announced})
    const {last} = await exchange(lenient, serverWith(store, {hash: 'sha256'}))
    assert.equal(last.type, 'success')
    assert.equal(lenient.downgradeProtected, false)
  })

  it('switched off, sends no h= and accepts "y" although -PLUS was offered', async () => {
    const server = serverWith(await storeFor('sha256', {juliet: 'pw'}), {hash: 'sha256', channelBindings: [exporter], announced, downgradeProtection: false})
    const client = new ScramClient({hash: 'sha256', username: 'juliet', password: 'pw', supportsChannelBinding: true})
    const first = await server.step(client.firstMessage())
    assert.doesNotMatch(text(first), /,h=/)
    const last = await server.step(await client.finalMessage((first as {data: Buffer}).data))
    assert.equal(last.type, 'success')
  })

  it('switched on, still refuses "y" where -PLUS was offered (RFC 5802 §6)', async () => {
    const server = serverWith(await storeFor('sha256', {juliet: 'pw'}), {hash: 'sha256', channelBindings: [exporter], announced})
    const step = await server.step(new ScramClient({hash: 'sha256', username: 'juliet', password: 'pw', supportsChannelBinding: true}).firstMessage())
    assert.equal(step.type === 'failure' && step.scramError, 'server-does-support-channel-binding')
  })
})
