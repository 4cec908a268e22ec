import {Flags} from '@oclif/core'
import path from 'node:path'

import {BaseCommand} from '../src/cli/base-command.js'
import {renderError} from '../src/cli/base-command.js'
import {LOG_LEVEL_NAMES, type LogLevelName} from '../src/config/schema.js'
import type {ServerStatus} from '../src/server/server.js'

export interface StartResult {
  pid: number
  foreground: boolean
  listeners: ServerStatus['listeners']
  log?: string
}

function describeListeners(listeners: ServerStatus['listeners']): string {
  return listeners.map((listener) => `${listener.ip}:${listener.port} (${listener.tls ? 'direct TLS' : `STARTTLS ${listener.starttls}`})`).join(', ')
}

export default class Start extends BaseCommand<StartResult> {
  static description = `Start the bundled XMPP server

In the background by default: waits until the server listens (or says why it
could not: port in use, certificate missing, bad configuration), writes
xmppctl.pid in the data directory and returns; logs go to server.log there.
With --foreground it stays attached and logs to stderr; Ctrl-C stops it.
Without a configuration file it serves localhost with SQLite under ./data, a
self-signed certificate generated on first start, and c2s on 5222 (STARTTLS)
and 5223 (direct TLS).`

  static examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --foreground',
    '<%= config.bin %> <%= command.id %> --config /etc/xmppctl/xmppctl.yml',
  ]

  static flags = {
    foreground: Flags.boolean({description: 'stay attached; log to stderr'}),
    'log-level': Flags.string({description: 'what the server logs (default: loglevel in the configuration, info)', options: [...LOG_LEVEL_NAMES]}),
  }

  async run(): Promise<StartResult> {
    const {flags: f} = await this.parse(Start)
    const config = await this.loadConfiguration()
    const configFile = config.file
    const level = f['log-level'] as LogLevelName | undefined
    if (!f.foreground) {
      const {startBackground} = await import('../src/server/process.js')
      const started = await startBackground(config, {bin: path.join(this.config.root, 'bin', 'run.js'), configFile, logLevel: level})
      for (const warning of started.warnings) this.note(warning)
      this.log(`started xmppctl server (pid ${started.pid}) on ${describeListeners(started.status.listeners)}; log: ${started.log}`)
      return {pid: started.pid, foreground: false, listeners: started.status.listeners, log: started.log}
    }

    const {runServer, serverLogger} = await import('../src/server/process.js')
    const daemon = process.env.XMPPCTL_DAEMON === '1' && typeof process.send === 'function'
    const logger = serverLogger(config, {daemon, level})
    let running: Awaited<ReturnType<typeof runServer>>
    try {
      running = await runServer(config, {logger, configFile})
    } catch (error) {
      // In the foreground the error line below says it: a log line too would print it twice.
      if (daemon) {
        logger.error(`cannot start: ${error instanceof Error ? error.message : String(error)}`)
        process.send!({type: 'error', error: renderError(error)})
        process.disconnect?.()
      }

      throw error
    }

    const stopOnSignal = (signal: string) => {
      logger.info(`${signal}: stopping`)
      void running.stop()
    }

    process.once('SIGINT', () => stopOnSignal('SIGINT'))
    process.once('SIGTERM', () => stopOnSignal('SIGTERM'))
    if (daemon) {
      process.send!({type: 'ready', status: running.status})
      process.disconnect?.()
    } else {
      process.stderr.write(`xmppctl server (pid ${process.pid}) on ${describeListeners(running.status.listeners)}; Ctrl-C stops it\n`)
    }

    await running.stopped
    return {pid: process.pid, foreground: true, listeners: running.status.listeners}
  }
}
