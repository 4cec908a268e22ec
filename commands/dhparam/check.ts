import {Args} from '@oclif/core'

import {BaseCommand} from '../../src/cli/base-command.js'
import {stdoutColour} from '../../src/cli/output.js'
import {ExitCode} from '../../src/errors.js'
import type {DhCheck} from '../../src/tls/dhparam.js'
import {tlsFlags} from '../../src/tls/flags.js'
import {type FailOn, fails} from '../../src/tls/findings.js'

export interface DhparamCheckResult extends DhCheck {
  failOn: FailOn
  failed: boolean
}

export default class DhparamCheck extends BaseCommand<DhparamCheckResult> {
  static description = `Check Diffie-Hellman parameters: size, primes, generator, known group

Errors: a prime under 2048 bits, p not prime, (p−1)/2 not prime (not a safe prime), a generator outside 2 … p−2. Notice: a generator of the whole group rather than of the prime-order subgroup. Info: whether the parameters are an RFC 7919 group. Reads PKCS#3 "DH PARAMETERS" and X9.42 PEM. Exits 1 when a finding at or above --fail-on (default error) was found.`

  static examples = ['<%= config.bin %> <%= command.id %> /etc/xmppctl/dhparam.pem', '<%= config.bin %> <%= command.id %> dhparam.pem --json']

  static args = {file: Args.string({required: true, description: 'PEM file with DH parameters'})}
  static flags = {'fail-on': tlsFlags.failOn()}

  async run(): Promise<DhparamCheckResult> {
    const {args, flags: f} = await this.parse(DhparamCheck)
    const {checkDhParams} = await import('../../src/tls/dhparam.js')
    const {requireFile} = await import('../../src/tls/inspect.js')
    requireFile(args.file)
    const result = await checkDhParams(args.file)
    const failed = fails(result.findings, f['fail-on'])
    this.log(`${args.file}: ${result.bits} bits, generator ${result.generator}${result.group ? `, RFC 7919 ${result.group}` : ''}`)
    this.log(`  p prime: ${result.pPrime ? 'yes' : 'no'}, (p−1)/2 prime: ${result.safePrime ? 'yes' : 'no'}, generator in the prime-order subgroup: ${result.generatorInSubgroup ? 'yes' : 'no'}`)
    for (const finding of result.findings) {
      const colour = finding.severity === 'error' ? stdoutColour.red : finding.severity === 'info' ? stdoutColour.dim : stdoutColour.yellow
      this.log(`  ${colour(finding.severity)} ${finding.id}: ${finding.message}`)
      if (finding.severity !== 'info') this.log(`    ${stdoutColour.dim(`fix: ${finding.fix}`)}`)
    }

    if (failed) this.setExitStatus(ExitCode.false)
    return {...result, failOn: f['fail-on'], failed}
  }
}
