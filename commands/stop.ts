import {BaseCommand} from '../src/cli/base-command.js'

export interface StopResult {
  stopped: boolean
  pid?: number
}

export default class Stop extends BaseCommand<StopResult> {
  static description = `Stop the running server gracefully

Clients get a system-shutdown stream error, then the server exits. Stopping
when no server runs is not an error.`

  static examples = ['<%= config.bin %> <%= command.id %>']

  async run(): Promise<StopResult> {
    const config = await this.loadConfiguration()
    const {ServerNotRunningError, controlRequest} = await import('../src/server/control.js')
    const {waitForExit} = await import('../src/server/process.js')
    let reply: {pid: number}
    try {
      reply = (await controlRequest(config, {command: 'stop'})) as {pid: number}
    } catch (error) {
      if (!(error instanceof ServerNotRunningError)) throw error
      this.log('no server is running')
      return {stopped: false}
    }

    if (!(await waitForExit(reply.pid))) {
      const {UnavailableError} = await import('../src/errors.js')
      throw new UnavailableError(`the server (pid ${reply.pid}) is still running after 15 s`, `check server.log in the data directory; "kill ${reply.pid}" ends it`)
    }

    this.log(`stopped xmppctl server (pid ${reply.pid})`)
    return {stopped: true, pid: reply.pid}
  }
}
