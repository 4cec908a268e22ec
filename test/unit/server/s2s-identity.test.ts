/**
 * A peer's certificate against the domain it claims (RFC 6125, XEP-0178
 * §3), and dialback keys (XEP-0185 §3), on certificates openssl makes.
 */
import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {X509Certificate} from 'node:crypto'
import {readFileSync} from 'node:fs'
import path from 'node:path'
import {describe, it} from 'node:test'

import {certificateCovers, certificateNames, dialbackKey, dialbackKeyMatches} from '../../../src/server/s2s-identity.js'
import {tempDir} from '../../helpers.js'

function certificate(t: {after(fn: () => unknown): void}, subject: string, san?: string): X509Certificate {
  const dir = tempDir(t, 'xmppctl-identity-')
  const file = path.join(dir, 'cert.pem')
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', path.join(dir, 'key.pem'), '-out', file, '-days', '1', '-subj', subject, ...(san ? ['-addext', `subjectAltName=${san}`] : [])], {stdio: 'ignore'})
  return new X509Certificate(readFileSync(file))
}

describe('s2s identity (RFC 6125, XEP-0178)', () => {
  it('a DNS-ID, with a wildcard standing for exactly one left-most label', (t) => {
    const cert = certificate(t, '/CN=ignored.test', 'DNS:example.org,DNS:*.example.net')
    assert.equal(certificateCovers(cert, 'example.org'), true)
    assert.equal(certificateCovers(cert, 'EXAMPLE.ORG'), true)
    assert.equal(certificateCovers(cert, 'chat.example.net'), true)
    assert.equal(certificateCovers(cert, 'a.chat.example.net'), false)
    assert.equal(certificateCovers(cert, 'example.net'), false)
    // The CN is not looked at when the certificate has DNS-IDs (RFC 6125 §6.4.4).
    assert.equal(certificateCovers(cert, 'ignored.test'), false)
  })

  it('an XmppAddr or an SRV-ID _xmpp-server (not _xmpp-client) alone', (t) => {
    const cert = certificate(t, '/CN=x', 'otherName:1.3.6.1.5.5.7.8.5;UTF8:xmpp.test,otherName:1.3.6.1.5.5.7.8.7;IA5:_xmpp-server.srv.test,otherName:1.3.6.1.5.5.7.8.7;IA5:_xmpp-client.client.test')
    assert.deepEqual(certificateNames(cert), ['XmppAddr:xmpp.test', 'SRVName:_xmpp-server.srv.test', 'SRVName:_xmpp-client.client.test'])
    assert.equal(certificateCovers(cert, 'xmpp.test'), true)
    assert.equal(certificateCovers(cert, 'srv.test'), true)
    assert.equal(certificateCovers(cert, 'client.test'), false)
  })

  it('the CN only when there is no subjectAltName', (t) => {
    const cert = certificate(t, '/CN=old.test')
    assert.deepEqual(certificateNames(cert), ['CN:old.test'])
    assert.equal(certificateCovers(cert, 'old.test'), true)
    assert.equal(certificateCovers(cert, 'other.test'), false)
  })

  it('dialback keys: HMAC-SHA256 of receiving, originating and stream id under SHA-256 of the secret, in hex (XEP-0185 §3)', () => {
    const secret = Buffer.from('s3cr3tf0rd14lb4ck')
    // The same computed by openssl: the HMAC key is the hex digest of the secret, as in XEP-0185's example code.
    const hexKey = execFileSync('openssl', ['dgst', '-sha256', '-r'], {input: secret, encoding: 'utf8'}).split(' ')[0]
    const expected = execFileSync('openssl', ['dgst', '-sha256', '-r', '-hmac', hexKey], {input: 'example.net example.org D60000229F', encoding: 'utf8'}).split(' ')[0]
    assert.equal(dialbackKey(secret, 'example.net', 'example.org', 'D60000229F'), expected)
    const key = dialbackKey(secret, 'b.test', 'a.test', 'id1')
    assert.equal(dialbackKeyMatches(key, `${key}\n`), true)
    assert.equal(dialbackKeyMatches(key, dialbackKey(secret, 'b.test', 'a.test', 'id2')), false)
    assert.equal(dialbackKeyMatches(key, 'short'), false)
  })
})
