/**
 * SCRAM downgrade protection on a real TLS stream: XEP-0474's h= verified
 * by our own SCRAM client against what the server really announced, a man in
 * the middle who trims the announcement caught, and the RFC 5802 §6 "y" check,
 * both switched per host by disable_sasl_scram_downgrade_protection.
 */
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import type tls from 'node:tls'

import type {ScramHash} from '../../../src/sasl/scram.js'
import {ScramClient, ScramClientError} from '../../../src/sasl/scram-client.js'
import type {AnnouncedSasl} from '../../../src/sasl/scram-downgrade.js'
import {RawClient, header, startTestServer} from './helpers.js'

/** STARTTLS, then the features of the secure stream, parsed. */
async function secureFeatures(port: number, host = 'localhost'): Promise<{client: RawClient; announced: AnnouncedSasl}> {
  const client = await RawClient.connect(port)
  client.write(header(host))
  await client.until(/<\/stream:features>/)
  client.write("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
  await client.until(/<proceed[^>]*\/>/)
  await client.startTls(host)
  client.write(header(host))
  const features = await client.until(/<\/stream:features>/)
  return {
    client,
    announced: {
      mechanisms: [...features.matchAll(/<mechanism>([^<]+)<\/mechanism>/g)].map((match) => match[1]),
      channelBindingTypes: [...features.matchAll(/<channel-binding type='([^']+)'\/>/g)].map((match) => match[1]),
    },
  }
}

/** One SCRAM exchange over the raw stream; returns the server's verdict element, or throws the client's ScramClientError. */
async function scram(client: RawClient, scramClient: ScramClient): Promise<string> {
  client.write(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='${scramClient.mechanism}'>${scramClient.firstMessage().toString('base64')}</auth>`)
  const reply = await client.until(/<\/challenge>|<\/failure>/)
  const challenge = /<challenge[^>]*>([^<]+)<\/challenge>/.exec(reply)
  if (!challenge) return reply
  const serverFirst = Buffer.from(challenge[1], 'base64')
  let final: Buffer
  try {
    final = await scramClient.finalMessage(serverFirst)
  } catch (error) {
    client.write("<abort xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>")
    throw error
  }

  client.write(`<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>${final.toString('base64')}</response>`)
  const verdict = await client.until(/<success[^>]*\/>|<\/success>|<\/failure>/)
  const success = /<success[^>]*>([^<]+)<\/success>/.exec(verdict)
  if (success) scramClient.verifyServerFinal(Buffer.from(success[1], 'base64'))
  return verdict
}

function exporterOf(client: RawClient): {type: string; data: Buffer} {
  // RFC 9266 §2: 32 bytes, label "EXPORTER-Channel-Binding", empty context.
  return {type: 'tls-exporter', data: (client.socket as tls.TLSSocket).exportKeyingMaterial(32, 'EXPORTER-Channel-Binding', Buffer.alloc(0))}
}

const credentials = (hash: ScramHash) => ({hash, username: 'alice', password: 'correct horse'})

describe('SCRAM downgrade protection on the wire', () => {
  it('sends h= over what it announced, and our client verifies it with SCRAM-SHA-256-PLUS', async (t) => {
    const server = await startTestServer(t)
    await server.addUser('alice@localhost', 'correct horse')
    const {client, announced} = await secureFeatures(server.starttlsPort)
    t.after(() => client.end())
    assert.ok(announced.mechanisms.includes('SCRAM-SHA-256-PLUS'), JSON.stringify(announced))
    assert.deepEqual(announced.channelBindingTypes, ['tls-exporter'])
    const scramClient = new ScramClient({...credentials('sha256'), channelBinding: exporterOf(client), announced, requireDowngradeProtection: true})
    assert.match(await scram(client, scramClient), /<success/)
    assert.equal(scramClient.downgradeProtected, true)
  })

  it('lets the client catch a man in the middle who stripped -PLUS and the channel-binding types', async (t) => {
    const server = await startTestServer(t)
    await server.addUser('alice@localhost', 'correct horse')
    const {client, announced} = await secureFeatures(server.starttlsPort)
    t.after(() => client.end())
    const seen: AnnouncedSasl = {mechanisms: announced.mechanisms.filter((name) => !name.endsWith('-PLUS')), channelBindingTypes: []}
    // XEP-0474 rule 6: a client that sees no usable -PLUS sends "n" and checks h=.
    const scramClient = new ScramClient({...credentials('sha1'), announced: seen})
    await assert.rejects(scram(client, scramClient), (error: unknown) => error instanceof ScramClientError && error.kind === 'downgrade')
  })

  it('refuses "y" over TLS 1.3 while -PLUS is offered (RFC 5802 §6)', async (t) => {
    const server = await startTestServer(t)
    await server.addUser('alice@localhost', 'correct horse')
    const {client} = await secureFeatures(server.starttlsPort)
    t.after(() => client.end())
    const verdict = await scram(client, new ScramClient({...credentials('sha1'), supportsChannelBinding: true}))
    assert.match(verdict, /<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized\/>/)
  })

  it('switched off for one host: no h= and "y" accepted there, the other host keeps both', async (t) => {
    const server = await startTestServer(t, {
      settings: {hosts: ['localhost', 'bots.localhost']},
      hostConfig: {'bots.localhost': {disable_sasl_scram_downgrade_protection: true}},
    })
    await server.addUser('alice@bots.localhost', 'correct horse')
    await server.addUser('alice@localhost', 'correct horse')

    const bots = await secureFeatures(server.starttlsPort, 'bots.localhost')
    t.after(() => bots.client.end())
    const lenient = new ScramClient({...credentials('sha1'), supportsChannelBinding: true, announced: bots.announced})
    assert.match(await scram(bots.client, lenient), /<success/)
    assert.equal(lenient.downgradeProtected, false)

    const main = await secureFeatures(server.starttlsPort)
    t.after(() => main.client.end())
    const strict = new ScramClient({...credentials('sha1'), announced: main.announced, requireDowngradeProtection: true})
    assert.match(await scram(main.client, strict), /<success/)
    assert.equal(strict.downgradeProtected, true)
  })
})
