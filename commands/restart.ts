import path from 'node:path'

import {BaseCommand} from '../src/cli/base-command.js'
import type {ServerStatus} from '../src/server/server.js'

export interface RestartResult {
  previousPid?: number
  pid: number
  listeners: ServerStatus['listeners']
}

export default class Restart extends BaseCommand<RestartResult> {
  static description = `Stop the running server (if any) and start it again in the background

Use it for changes that reload cannot apply, such as listeners.`

  static examples = ['<%= config.bin %> <%= command.id %>']

  async run(): Promise<RestartResult> {
    const config = await this.loadConfiguration()
    const {ServerNotRunningError, controlRequest} = await import('../src/server/control.js')
    const {startBackground, waitForExit} = await import('../src/server/process.js')
    const {UnavailableError} = await import('../src/errors.js')
    let previousPid: number | undefined
    try {
      previousPid = ((await controlRequest(config, {command: 'stop'})) as {pid: number}).pid
      if (!(await waitForExit(previousPid))) throw new UnavailableError(`the server (pid ${previousPid}) did not stop within 15 s`, 'check server.log in the data directory')
    } catch (error) {
      if (!(error instanceof ServerNotRunningError)) throw error
    }

    const started = await startBackground(config, {bin: path.join(this.config.root, 'bin', 'run.js'), configFile: config.file})
    this.log(`${previousPid ? `restarted (pid ${previousPid} → ${started.pid})` : `started (pid ${started.pid})`}; log: ${started.log}`)
    return {...(previousPid ? {previousPid} : {}), pid: started.pid, listeners: started.status.listeners}
  }
}
