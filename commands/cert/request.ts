import {Args} from '@oclif/core'

import {BaseCommand} from '../../src/cli/base-command.js'
import {flags} from '../../src/cli/flags.js'
import type {GeneratedRequest} from '../../src/tls/generate.js'
import {parseKeySpec} from '../../src/tls/keys.js'
import {splitList, tlsFlags} from '../../src/tls/flags.js'

export interface CertRequestResult {
  requests: GeneratedRequest[]
}

export default class CertRequest extends BaseCommand<CertRequestResult> {
  static description = `Create a key and a certificate signing request (CSR) for each host, for a CA to sign

Writes <data_dir>/certs/HOST.key (mode 0600) and HOST.csr, with the names "cert generate" would use (dNSName, XmppAddr, SRVName). Send HOST.csr to the CA and save the certificate it returns, followed by its intermediates, as <data_dir>/certs/HOST.crt. HOST.key is the key of the certificate in use, so an existing one is replaced only with --force.`

  static examples = [
    '<%= config.bin %> <%= command.id %> example.org',
    '<%= config.bin %> <%= command.id %> example.org --with-subdomains conference,upload --key rsa:3072',
    '<%= config.bin %> <%= command.id %> example.org --json | jq -r .requests[0].csrFile',
  ]

  static strict = false
  static args = {host: Args.string({required: true, description: 'configured host(s) to create a request for'})}
  static flags = {
    key: tlsFlags.key(),
    'with-subdomains': tlsFlags.subdomains(),
    'dns-only': tlsFlags.dnsOnly(),
    force: flags.force('replace an existing key and request'),
  }

  async run(): Promise<CertRequestResult> {
    const {argv, flags: f} = await this.parse(CertRequest)
    const config = await this.loadConfiguration()
    const {generateRequests} = await import('../../src/tls/generate.js')
    const {displayPath} = await import('../../src/paths.js')
    const requests = await generateRequests(config, argv as string[], {key: parseKeySpec(f.key), subdomains: splitList(f['with-subdomains']), force: f.force, dnsOnly: f['dns-only']})
    for (const request of requests) {
      this.log(`${request.host}: wrote ${displayPath(request.csrFile)} and ${displayPath(request.keyFile)} (${request.key})`)
    }

    this.log(`send the .csr to your CA; save the certificate it issues (then its intermediates) as HOST.crt beside the key`)
    return {requests}
  }
}
