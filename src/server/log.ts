/**
 * The server's log: one line per event on a stream (stderr in the
 * foreground, the log file in the background). Callers pass facts, never
 * secrets: no passwords, tokens, SASL payloads or session keys are logged.
 */
export const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]

export interface Logger {
  error(message: string): void
  warn(message: string): void
  info(message: string): void
  debug(message: string): void
}

export function createLogger(level: LogLevel = 'info', write: (line: string) => void = (line) => process.stderr.write(line)): Logger {
  const threshold = LOG_LEVELS.indexOf(level)
  const at = (name: LogLevel) => (message: string) => {
    if (LOG_LEVELS.indexOf(name) <= threshold) write(`${new Date().toISOString()} ${name.padEnd(5)} ${message.replace(/[\r\n]+/g, ' ')}\n`)
  }

  return {error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug')}
}

export const silentLogger: Logger = {error() {}, warn() {}, info() {}, debug() {}}
