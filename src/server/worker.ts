/**
 * One worker of a supervisor (cluster.workers, src/server/supervisor.ts): a
 * normal XmppServer that is cluster node NAME-k, listening through Node's
 * cluster module on the ports its supervisor holds. It has no control
 * socket and no pid file: the supervisor passes control requests over IPC,
 * and its log lines go to the supervisor, the one process that writes (and
 * rotates) server.log.
 */
import {Configuration} from '../config/index.js'
import {XmppctlError} from '../errors.js'
import {type Logger, createLogger} from './log.js'
import {serverControlHandler} from './process.js'
import {XmppServer} from './server.js'
import {type SupervisorMessage, WORKER_TAKEOVER_ENV, type WorkerError, type WorkerMessage} from './supervisor.js'

/** `config` as worker `node` runs it: the same file, its own cluster node name. */
export function workerConfiguration(config: Configuration, node: string): Configuration {
  return new Configuration(config.file, {...config.settings, cluster: {...config.settings.cluster, node}}, {...config.hostOverrides}, config.plugins)
}

/** Sends `message` to the supervisor; `then` runs once it is written. Without a supervisor (it died), a log line goes to stderr. */
function send(message: WorkerMessage, then: () => void = () => {}): void {
  if (!process.connected || !process.send) {
    if (message.type === 'log') process.stderr.write(message.line)
    then()
    return
  }

  process.send(message, undefined, {}, () => then())
}

/** A worker's logger: its lines, tagged with its node name, go to the supervisor (or to stderr if the supervisor is gone). */
export function workerLogger(level: Parameters<typeof createLogger>[0], node: string): Logger {
  return createLogger(level, (line) => send({type: 'log', line}), {tag: node})
}

/** Tells the supervisor why this worker cannot start, then exits with the error's status (the promise never settles). */
export function workerFailed(error: WorkerError): Promise<never> {
  send({type: 'error', error}, () => process.exit(error.exitCode || 1))
  return new Promise<never>(() => {})
}

/**
 * Runs the server as worker `node`: reports ready (or the error that stopped
 * it) to the supervisor, answers its control requests, and exits once
 * stopped. SIGINT is the supervisor's to handle (Ctrl-C reaches the whole
 * process group); SIGTERM stops this worker, which the supervisor then
 * starts again.
 */
export async function runWorker(config: Configuration, options: {node: string; logger: Logger; configFile?: string; render: (error: unknown) => WorkerError}): Promise<void> {
  const {node, logger} = options
  const server = new XmppServer(workerConfiguration(config, node), {logger, cluster: {takeover: process.env[WORKER_TAKEOVER_ENV] === '1'}})
  process.on('SIGINT', () => {})
  try {
    await server.start()
  } catch (error) {
    logger.error(`cannot start: ${error instanceof Error ? error.message : String(error)}`)
    return workerFailed(options.render(error))
  }

  let stopping: Promise<void> | undefined
  const stop = () =>
    (stopping ??= (async () => {
      await server.stop()
      // Exits once the last log line has reached the supervisor (IPC keeps the order).
      send({type: 'stopped'}, () => process.exit(0))
    })())
  const handle = serverControlHandler(server, {logger, configFile: options.configFile, stop, reconfigure: (reloaded) => workerConfiguration(reloaded, node)})
  process.on('message', (message: SupervisorMessage) => {
    if (message?.type !== 'request') return
    handle(message.request).then(
      (result) => send({type: 'reply', id: message.id, reply: {ok: true, result: result ?? null}}),
      (error: unknown) => {
        const rendered = options.render(error)
        const exitCode = error instanceof XmppctlError ? error.exitCode : undefined
        send({type: 'reply', id: message.id, reply: {ok: false, error: {code: rendered.code, message: rendered.message, hint: rendered.hint, ...(exitCode === undefined ? {} : {exitCode})}}})
      },
    )
  })
  process.once('SIGTERM', () => {
    logger.info('SIGTERM: stopping')
    void stop()
  })
  send({type: 'ready', status: server.status()})
  await new Promise<never>(() => {})
}
