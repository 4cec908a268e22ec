import {Flags} from '@oclif/core'

import {BaseCommand} from '../../src/cli/base-command.js'
import {flags} from '../../src/cli/flags.js'
import {UsageError} from '../../src/errors.js'

const GROUPS = ['ffdhe2048', 'ffdhe3072', 'ffdhe4096'] as const

export interface DhparamGenerateResult {
  /** The RFC 7919 group written, or null for a freshly generated prime. */
  group: string | null
  bits: number
  generator: number
  file: string | null
  pem: string
}

export default class DhparamGenerate extends BaseCommand<DhparamGenerateResult> {
  static description = `Write Diffie-Hellman parameters (PKCS#3 "DH PARAMETERS" PEM) for DHE cipher suites

By default writes an RFC 7919 group (ffdhe3072 unless --group says otherwise), instantly: these primes are public, fixed and well studied, and clients can recognise them. --bits N generates a fresh safe prime instead, which takes seconds for 2048 bits and can take many minutes for 4096; progress is shown on stderr, and Ctrl-C stops it without writing anything. Writes to standard output, or to --out FILE (mode 0644; an existing file only with --force).`

  static examples = [
    '<%= config.bin %> <%= command.id %> --out /etc/xmppctl/dhparam.pem',
    '<%= config.bin %> <%= command.id %> --group ffdhe4096 > dhparam.pem',
    '<%= config.bin %> <%= command.id %> --bits 3072 --out dhparam.pem',
  ]

  static flags = {
    group: Flags.string({description: 'RFC 7919 group to write', options: [...GROUPS], helpValue: 'GROUP'}),
    bits: Flags.integer({description: 'generate a fresh safe prime of this many bits instead (2048 or more; slow)', helpValue: 'N'}),
    out: Flags.string({char: 'o', description: 'write to this file instead of standard output', helpValue: 'FILE'}),
    force: flags.force('replace an existing --out file'),
  }

  async run(): Promise<DhparamGenerateResult> {
    const {flags: f} = await this.parse(DhparamGenerate)
    if (f.group !== undefined && f.bits !== undefined) {
      throw new UsageError('--group and --bits cannot be used together', 'use --group for an RFC 7919 group, or --bits to generate a new prime')
    }

    const {DEFAULT_GROUP, bitLength, encodeDhParams, ffdhePrime, generateSafePrimeParams} = await import('../../src/tls/dhparam.js')
    const {CERT_MODE, refuseExisting} = await import('../../src/tls/files.js')
    const {writeFileSecure} = await import('../../src/secure-write.js')
    const {displayPath} = await import('../../src/paths.js')
    const path = await import('node:path')
    const out = f.out ? path.resolve(f.out) : undefined
    if (out) refuseExisting([out], f.force) // before minutes of work, not after
    let group: string | null
    let params
    if (f.bits === undefined) {
      group = f.group ?? DEFAULT_GROUP
      params = {p: ffdhePrime(group as (typeof GROUPS)[number]), g: 2n}
    } else {
      if (f.bits < 2048) this.note(`a ${f.bits}-bit prime is breakable; "dhparam check" will report it as an error`)
      group = null
      params = await this.generate(f.bits, generateSafePrimeParams)
    }

    const pem = encodeDhParams(params)
    const bits = bitLength(params.p)
    if (out) {
      writeFileSecure(out, pem, {mode: CERT_MODE, overwrite: f.force})
      this.log(`wrote ${displayPath(out)} (${group ?? 'generated safe prime'}, ${bits} bits, generator 2)`)
    } else if (!this.jsonEnabled()) {
      process.stdout.write(pem)
    }

    return {group, bits, generator: 2, file: out ?? null, pem}
  }

  /** Generates with a ticking progress line on stderr; Ctrl-C exits 130 with nothing written. */
  private async generate(bits: number, generateSafePrimeParams: typeof import('../../src/tls/dhparam.js').generateSafePrimeParams) {
    if (!Number.isInteger(bits)) throw new UsageError(`--bits ${bits} is not a whole number`)
    const tty = Boolean(process.stderr.isTTY)
    const quiet = this.jsonEnabled() && !tty
    const write = (text: string) => {
      if (!quiet) process.stderr.write(text)
    }

    const frames = ['|', '/', '-', '\\']
    const generation = generateSafePrimeParams(
      bits,
      (elapsed) => {
        const seconds = Math.round(elapsed / 1000)
        if (tty) write(`\r\u001B[Kgenerating a ${bits}-bit safe prime ${frames[Math.floor(elapsed / 250) % 4]} ${seconds}s (Ctrl-C to stop)`)
        else if (seconds > 0 && seconds % 10 === 0) write(`still generating: ${seconds}s\n`)
      },
      tty ? 250 : 1000,
    )
    // Nothing is written before the prime is found, so stopping leaves nothing behind.
    const onInterrupt = (signal: NodeJS.Signals) => {
      generation.cancel()
      write(`${tty ? '\r\u001B[K' : ''}interrupted: nothing was written\n`)
      process.exit(signal === 'SIGTERM' ? 143 : 130)
    }

    // Listening before saying "Ctrl-C to stop": a Ctrl-C right after the message must find the handler.
    process.once('SIGINT', onInterrupt)
    process.once('SIGTERM', onInterrupt)
    write(`generating a ${bits}-bit safe prime (Ctrl-C to stop)${tty ? '' : '\n'}`)
    try {
      return await generation.result
    } finally {
      process.removeListener('SIGINT', onInterrupt)
      process.removeListener('SIGTERM', onInterrupt)
      if (tty) write('\r\u001B[K')
    }
  }
}
