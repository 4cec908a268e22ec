import {Args} from '@oclif/core'

import {BaseCommand} from '../../src/cli/base-command.js'
import {ExitCode} from '../../src/errors.js'

type S2sCloseResult = {domain: string; closed: number}

export default class S2sClose extends BaseCommand<S2sCloseResult> {
  static description = `Close the running server's federation streams to and from a domain

Streams open again when a stanza is sent there next. Exits 1 when no stream with that domain was open, 3 when no server is running.`

  static examples = ['<%= config.bin %> <%= command.id %> example.net', '<%= config.bin %> <%= command.id %> example.net --json']
  static args = {domain: Args.string({required: true, description: 'the peer server\'s domain'})}

  async run(): Promise<S2sCloseResult> {
    const {args} = await this.parse(S2sClose)
    const {closeS2s} = await import('../../src/server/s2s-admin.js')
    const result = await closeS2s(await this.loadConfiguration(), args.domain)
    this.log(result.closed === 0 ? `no s2s stream with ${result.domain} was open` : `closed ${result.closed} stream${result.closed === 1 ? '' : 's'} with ${result.domain}`)
    if (result.closed === 0) this.setExitStatus(ExitCode.false)
    return result
  }
}
