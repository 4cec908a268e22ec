/**
 * The server serves the `tls` keys: `ciphers: default` admits only
 * forward-secret AEAD suites, and `tls.dhparam` is what DHE suites use.
 */
import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import path from 'node:path'
import {describe, it} from 'node:test'
import tls from 'node:tls'

import {ConfigError} from '../../../src/errors.js'
import {tempDir} from '../../helpers.js'
import {startTestServer} from './helpers.js'

/** A direct-TLS handshake offering only `ciphers` at TLS 1.2; resolves to the negotiated suite and key exchange, or the error. */
function handshake(port: number, ciphers: string): Promise<{cipher: string; keyExchange: tls.EphemeralKeyInfo | object | null} | {error: string}> {
  return new Promise((resolve) => {
    const socket = tls.connect({port, host: '127.0.0.1', servername: 'localhost', rejectUnauthorized: false, maxVersion: 'TLSv1.2', ciphers}, () => {
      resolve({cipher: socket.getCipher().name, keyExchange: socket.getEphemeralKeyInfo()})
      socket.destroy()
    })
    socket.on('error', (error) => resolve({error: error.message}))
  })
}

function rsaCertificate(dir: string): {cert: string; key: string} {
  const key = path.join(dir, 'rsa.key')
  const cert = path.join(dir, 'rsa.crt')
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '30', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost'], {stdio: 'ignore'})
  return {cert, key}
}

describe('the server\'s TLS policy', () => {
  it('by default refuses TLS 1.2 suites without forward secrecy or authenticated encryption', async (t) => {
    const {cert, key} = rsaCertificate(tempDir(t))
    const server = await startTestServer(t, {settings: {certfiles: [cert, key]}})
    assert.deepEqual(await handshake(server.tlsPort, 'ECDHE-RSA-AES128-GCM-SHA256'), {cipher: 'ECDHE-RSA-AES128-GCM-SHA256', keyExchange: {type: 'ECDH', name: 'X25519', size: 253}})
    for (const weak of ['AES128-GCM-SHA256', 'ECDHE-RSA-AES128-SHA', 'ECDHE-RSA-AES256-SHA384']) {
      assert.ok('error' in (await handshake(server.tlsPort, weak)), `${weak} was accepted`)
    }
  })

  it('serves DHE with the configured tls.dhparam group', async (t) => {
    const {cert, key} = rsaCertificate(tempDir(t))
    for (const [group, bits] of [['ffdhe2048', 2048], ['ffdhe4096', 4096]] as const) {
      const server = await startTestServer(t, {settings: {certfiles: [cert, key], tls: {min_version: 'TLSv1.2', ciphers: 'default', dhparam: group}}})
      assert.deepEqual(await handshake(server.tlsPort, 'DHE-RSA-AES128-GCM-SHA256'), {cipher: 'DHE-RSA-AES128-GCM-SHA256', keyExchange: {type: 'DH', size: bits}})
    }
  })

  it('refuses to start when tls.dhparam names a file it cannot read', async (t) => {
    const missing = path.join(tempDir(t), 'dhparam.pem')
    await assert.rejects(
      startTestServer(t, {settings: {tls: {min_version: 'TLSv1.2', ciphers: 'default', dhparam: missing}}}),
      (error: Error) => error instanceof ConfigError && error.message.includes(`cannot read tls.dhparam ${missing}`),
    )
  })
})
