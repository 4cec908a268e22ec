import {BaseCommand} from '../../src/cli/base-command.js'
import {formatTable} from '../../src/cli/output.js'
import type {S2sListResult} from '../../src/server/s2s-admin.js'

export default class S2sList extends BaseCommand<S2sListResult> {
  static description = `List the running server's federation streams, incoming and outgoing

Shows each stream's direction, our domain, the peer's domains, how the peer authenticated (EXTERNAL, dialback), its TLS version, state and address. With --json, prints {connections: [{direction, local, remote, state, auth, tls, address, since, queued, certificateVerified, bidi}]}. Exits 3 when no server is running.`

  static examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --json']

  async run(): Promise<S2sListResult> {
    const {listS2s} = await import('../../src/server/s2s-admin.js')
    const result = await listS2s(await this.loadConfiguration())
    if (result.connections.length === 0) {
      this.log('no s2s streams')
      return result
    }

    this.log(
      formatTable(
        ['DIRECTION', 'LOCAL', 'REMOTE', 'AUTH', 'TLS', 'STATE', 'ADDRESS', 'SINCE'],
        result.connections.map((stream) => [stream.direction, stream.local, stream.remote.join(',') || '-', stream.auth, stream.tls ?? 'none', stream.state, stream.address, stream.since]),
      ),
    )
    return result
  }
}
