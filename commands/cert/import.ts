import {Args} from '@oclif/core'

import {BaseCommand} from '../../src/cli/base-command.js'
import {flags} from '../../src/cli/flags.js'
import {ExitCode} from '../../src/errors.js'
import type {ImportResult} from '../../src/tls/import.js'

export default class CertImport extends BaseCommand<ImportResult & {reloaded: boolean}> {
  static description = `Install certificates from certbot or from a directory of PEM files

Reads certbot directories (/etc/letsencrypt, its live/ directory, or one live/NAME lineage: fullchain.pem and privkey.pem, following the symlinks into archive/) or any directory of PEM files, pairs each certificate with its key, and gives each configured host the longest-valid certificate that names it (RFC 6125: wildcards cover one label). Installs them as <data_dir>/certs/HOST.crt and HOST.key (key mode 0600), never with wider permissions than the files had, keeping the owner of the files replaced. A certificate that lasts less than the installed one is kept out unless --force.

As a certbot deploy hook (certbot sets RENEWED_LINEAGE and RENEWED_DOMAINS), it reads only the renewed lineage and ignores the DIR arguments, and a renewal that concerns no configured host is not an error. A running XMPP server is told to reload, so it uses the new certificates at once. Exits 1 when no host got a certificate (outside a deploy hook).`

  static examples = [
    '<%= config.bin %> <%= command.id %> /etc/letsencrypt',
    '<%= config.bin %> <%= command.id %> /etc/letsencrypt/live/example.org /srv/certs',
    'certbot renew --deploy-hook "<%= config.bin %> <%= command.id %> /etc/letsencrypt"',
  ]

  static strict = false
  static args = {dir: Args.string({description: 'certbot or PEM directory (or file) to import from'})}
  static flags = {force: flags.force('install even when the installed certificate lasts longer')}

  async run(): Promise<ImportResult & {reloaded: boolean}> {
    const {argv, flags: f} = await this.parse(CertImport)
    const config = await this.loadConfiguration()
    const {importCertificates} = await import('../../src/tls/import.js')
    const {displayPath} = await import('../../src/paths.js')
    const result = importCertificates(config, argv as string[], {force: f.force})
    if (result.deployHook) this.log(`certbot deploy hook: ${result.sources.join(', ')}`)
    for (const entry of result.imported) {
      const what = {installed: 'installed', unchanged: 'unchanged', kept: 'kept the installed certificate, which lasts longer than'}[entry.status]
      this.log(`${entry.host}: ${what} ${displayPath(entry.source)} → ${displayPath(entry.certFile)} (expires ${entry.notAfter.slice(0, 10)})`)
    }

    for (const entry of result.missing) this.log(`${entry.host}: no certificate (${entry.reason})`)
    for (const entry of result.skipped) this.note(`skipped ${displayPath(entry.file)}: ${entry.reason}`)
    let reloaded = false
    if (result.reloadNeeded) {
      const {reloadRunningServer} = await import('../../src/running-server.js')
      const reload = await reloadRunningServer(config)
      reloaded = reload.reloaded
      if (reload.warning) this.note(reload.warning)
      else this.log(reloaded ? 'the running server reloaded its certificates' : 'no server is running; it will use the new certificates when started')
    }

    if (!result.deployHook && result.imported.length === 0) this.setExitStatus(ExitCode.false)
    return {...result, reloaded}
  }
}
