import assert from 'node:assert/strict'
import {X509Certificate} from 'node:crypto'
import {readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {describe, it} from 'node:test'

import {loadConfig} from '../../../src/config/index.js'
import {loadCertificates, opensslSelfSigned, tlsSelfSigned} from '../../../src/server/certificates.js'
import {tempDir} from '../../helpers.js'

/** The DNS names of the certificate the server made for `host` in the data directory. */
function dnsNames(dir: string, host: string): string[] {
  const certificate = new X509Certificate(readFileSync(path.join(dir, 'data', 'certs', `${host}.crt`)))
  return (certificate.subjectAltName ?? '').split(', ').filter((entry) => entry.startsWith('DNS:')).map((entry) => entry.slice(4))
}

describe('the self-signed certificate made on first start', () => {
  for (const [name, generate] of [['src/tls', tlsSelfSigned], ['openssl', opensslSelfSigned]] as const) {
    it(`names the host and the domains its services federate at (${name})`, async (t) => {
      const dir = tempDir(t)
      const file = path.join(dir, 'xmppctl.yml')
      writeFileSync(file, `hosts: [example.org]\ndata_dir: ${path.join(dir, 'data')}\nmodules: {mod_muc: {}, mod_http_upload: {}}\n`)
      const certificates = await loadCertificates(loadConfig(file), generate)
      assert.equal(certificates.get('example.org')?.selfSigned, true)
      assert.deepEqual(dnsNames(dir, 'example.org'), ['example.org', 'conference.example.org', 'upload.example.org'])
    })
  }

  it('names only the host when no service is enabled, and leaves out a service domain that is not below it', async (t) => {
    const dir = tempDir(t)
    const file = path.join(dir, 'xmppctl.yml')
    writeFileSync(file, `hosts: [example.org]\ndata_dir: ${path.join(dir, 'data')}\nmodules: {mod_roster: {}, mod_muc: {host: rooms.example.net}}\n`)
    await loadCertificates(loadConfig(file))
    assert.deepEqual(dnsNames(dir, 'example.org'), ['example.org'])
  })
})
