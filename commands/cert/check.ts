import {Args} from '@oclif/core'

import {BaseCommand} from '../../src/cli/base-command.js'
import {stdoutColour} from '../../src/cli/output.js'
import {ExitCode} from '../../src/errors.js'
import type {CheckResult} from '../../src/tls/check.js'
import {tlsFlags} from '../../src/tls/flags.js'
import {type FailOn, type Finding, fails} from '../../src/tls/findings.js'

export interface CertCheckResult extends CheckResult {
  failOn: FailOn
  failed: boolean
}

const paint: Record<Finding['severity'], (text: string) => string> = {
  error: (text) => stdoutColour.red(text),
  warning: (text) => stdoutColour.yellow(text),
  notice: (text) => stdoutColour.cyan(text),
  info: (text) => stdoutColour.dim(text),
}

export default class CertCheck extends BaseCommand<CertCheckResult> {
  static description = `Check the certificate of each configured host (or of the hosts given)

For each host: which certificate covers it (certs/HOST.crt first, then any file in the certs directory or in "certfiles" that names it, by RFC 6125 rules), its validity dates and days left, whether the key matches, the key type and strength (RSA ≥ 2048, EC ≥ 256), the signature algorithm (no MD5 or SHA-1), the chain order, whether it verifies against the system trust store (Node's roots plus SSL_CERT_FILE or the system bundle), and, on a server that federates without s2s_certfile, whether it also names the host's service domains (conference.HOST, upload.HOST).

Severities: error — expired, not yet valid, under 1 day left, no certificate, wrong host, key missing or mismatched, weak key or signature; warning — under 7 days left, self-signed, untrusted, chain out of order, key readable by others; notice — under 30 days left, a service domain not named; info — remarks. Exits 1 when a finding at or above --fail-on (default error) was found.`

  static examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> example.org --fail-on warning',
    '<%= config.bin %> <%= command.id %> --json | jq \'.findings[] | select(.severity == "error")\'',
  ]

  static strict = false
  static args = {host: Args.string({description: 'configured host(s) to check (default: all)'})}
  static flags = {'fail-on': tlsFlags.failOn()}

  async run(): Promise<CertCheckResult> {
    const {argv, flags: f} = await this.parse(CertCheck)
    const config = await this.loadConfiguration()
    const {checkHosts} = await import('../../src/tls/check.js')
    const {displayPath} = await import('../../src/paths.js')
    const result = checkHosts(config, argv as string[])
    for (const report of result.hosts) {
      const certificate = report.certificate
      const status = report.status === 'ok' ? stdoutColour.green('ok') : paint[report.status](report.status)
      if (certificate) {
        const trust = certificate.selfSigned ? 'self-signed' : certificate.trusted ? 'trusted' : 'untrusted'
        this.log(`${stdoutColour.bold(report.host)}: ${status} — ${displayPath(certificate.file)}, expires ${certificate.notAfter.slice(0, 10)} (${certificate.daysLeft} days), ${certificate.key}, ${certificate.signatureAlgorithm}, ${trust}`)
      } else {
        this.log(`${stdoutColour.bold(report.host)}: ${status} — no certificate`)
      }

      for (const finding of result.findings.filter((candidate) => candidate.subject === report.host)) {
        this.log(`  ${paint[finding.severity](finding.severity)} ${finding.id}: ${finding.message}`)
        this.log(`    ${stdoutColour.dim(`fix: ${finding.fix}`)}`)
      }
    }

    const counts = ['error', 'warning', 'notice'].map((severity) => {
      const count = result.findings.filter((finding) => finding.severity === severity).length
      return `${count} ${severity}${count === 1 ? '' : 's'}`
    })
    this.log(counts.join(', '))
    const failed = fails(result.findings, f['fail-on'])
    if (failed) this.setExitStatus(ExitCode.false)
    return {...result, failOn: f['fail-on'], failed}
  }
}
