import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../../src/cli/base-command.js'
import {flags} from '../../src/cli/flags.js'
import type {GeneratedCertificate} from '../../src/tls/generate.js'
import {splitList, tlsFlags} from '../../src/tls/flags.js'
import {parseKeySpec} from '../../src/tls/keys.js'

export interface CertGenerateResult {
  certificates: GeneratedCertificate[]
}

export default class CertGenerate extends BaseCommand<CertGenerateResult> {
  static description = `Create a self-signed certificate and key for each host

Writes <data_dir>/certs/HOST.crt (mode 0644) and HOST.key (mode 0600 from its creation). The certificate names the host as dNSName, as XmppAddr (id-on-xmppAddr, RFC 6120 §13.7.1.4) and as SRVName _xmpp-client.HOST and _xmpp-server.HOST (RFC 4985); --with-subdomains adds component names; --dns-only leaves XmppAddr and SRVName out (ejabberd 23.01 cannot read a peer's XmppAddr). Self-signed certificates suit testing and private servers; for a public server get one from a CA and use "cert import". Refuses to overwrite existing files without --force.`

  static examples = [
    '<%= config.bin %> <%= command.id %> example.org',
    '<%= config.bin %> <%= command.id %> example.org --with-subdomains conference,upload --days 730',
    '<%= config.bin %> <%= command.id %> example.org example.net --key rsa:3072 --force',
  ]

  static strict = false
  static args = {host: Args.string({required: true, description: 'configured host(s) to create a certificate for'})}
  static flags = {
    key: tlsFlags.key(),
    days: Flags.integer({description: 'days the certificate is valid (1 to 3650)', default: 365}),
    'with-subdomains': tlsFlags.subdomains(),
    'dns-only': tlsFlags.dnsOnly(),
    force: flags.force('replace existing certificate and key files'),
  }

  async run(): Promise<CertGenerateResult> {
    const {argv, flags: f} = await this.parse(CertGenerate)
    const config = await this.loadConfiguration()
    const {generateCertificates} = await import('../../src/tls/generate.js')
    const {displayPath} = await import('../../src/paths.js')
    const key = parseKeySpec(f.key)
    const certificates = await generateCertificates(config, argv as string[], {key, days: f.days, subdomains: splitList(f['with-subdomains']), force: f.force, dnsOnly: f['dns-only']})
    for (const certificate of certificates) {
      this.log(`${certificate.host}: wrote ${displayPath(certificate.certFile)} and ${displayPath(certificate.keyFile)} (${certificate.key}, self-signed, valid until ${certificate.notAfter.slice(0, 10)})`)
      this.log(`  names: ${[...certificate.names.dns.map((n) => `DNS:${n}`), ...certificate.names.xmppAddr.map((n) => `xmppAddr:${n}`), ...certificate.names.srv.map((n) => `SRV:${n}`)].join(', ')}`)
      this.log(`  SHA-256 fingerprint: ${certificate.fingerprint256}`)
    }

    return {certificates}
  }
}
