import {BaseCommand} from '../../src/cli/base-command.js'
import {formatTable} from '../../src/cli/output.js'
import type {ListedCertificate} from '../../src/tls/check.js'

export default class CertList extends BaseCommand<ListedCertificate[]> {
  static description = `List the certificate files: the certs directory and "certfiles"

One row per file: which configured hosts it covers, when it expires, its key and issuer. Files that are not certificates are listed with the reason. "cert check" says what is wrong; this only lists. With --json, prints an array of objects (file, hosts, names, notAfter, daysLeft, key, keyMatches, issuer, selfSigned, trusted, …).`

  static examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --json | jq -r \'.[] | select(.daysLeft < 30) | .file\'']

  async run(): Promise<ListedCertificate[]> {
    await this.parse(CertList)
    const config = await this.loadConfiguration()
    const {listCertificates} = await import('../../src/tls/check.js')
    const {certsDir} = await import('../../src/tls/files.js')
    const {displayPath} = await import('../../src/paths.js')
    const listed = listCertificates(config)
    if (listed.length === 0) {
      this.log(`no certificates in ${displayPath(certsDir(config))} or certfiles; create one with "xmppctl cert generate HOST" or "xmppctl cert import DIR"`)
      return listed
    }

    const rows = listed.map((entry) =>
      entry.error
        ? [displayPath(entry.file), '-', '-', '-', '-', `unreadable: ${entry.error.replace(`${entry.file}: `, '')}`]
        : [
            displayPath(entry.file),
            entry.hosts.join(',') || '(none)',
            entry.notAfter?.slice(0, 10) ?? '-',
            String(entry.daysLeft),
            `${entry.key}${entry.keyMatches === false ? ' (key mismatch)' : entry.keyMatches === null ? ' (no key)' : ''}`,
            entry.selfSigned ? 'self-signed' : (entry.issuer ?? ''),
          ],
    )
    this.log(formatTable(['FILE', 'HOSTS', 'EXPIRES', 'DAYS', 'KEY', 'ISSUER'], rows))
    return listed
  }
}
