import {mkdirSync} from 'node:fs'
import path from 'node:path'
import {stringify} from 'yaml'

import {JidError, UsageError, XmppctlError, osErrorText} from '../errors.js'
import {quoteInput} from '../jid/describe.js'
import {normalizeDomain} from '../jid/index.js'
import {writeFileSecure} from '../secure-write.js'
import {ConfigProblemsError, parseConfig} from './index.js'
import type {Settings} from './schema.js'

export interface InitAnswers {
  hosts: string[]
  dataDir: string
  passwordFormat: Settings['auth_password_format']
  scramHashes: Settings['auth_scram_hash']
}

export interface InitResult {
  file: string
  settings: Pick<Settings, 'hosts' | 'data_dir' | 'auth_password_format' | 'auth_scram_hash'>
}

/** The `config init` flag that gives each key the file is written with. */
const FLAG_OF_KEY: Record<string, string> = {
  hosts: '--host',
  data_dir: '--data-dir',
  auth_password_format: '--password-format',
  auth_scram_hash: '--scram-hash',
}

/** The file `config init` writes: the answers, with a comment saying where the rest is documented. */
export function renderConfigFile(answers: InitAnswers): string {
  const body: Record<string, unknown> = {
    hosts: answers.hosts,
    data_dir: answers.dataDir,
    auth_method: ['internal'],
    auth_password_format: answers.passwordFormat,
  }
  if (answers.passwordFormat === 'scram') body.auth_scram_hash = answers.scramHashes
  return `# xmppctl configuration, written by "xmppctl config init".\n# Every key is listed in the README; check this file with "xmppctl config check".\n${stringify(body)}`
}

/**
 * Refuses a host that is not a domain, or one given twice, naming the flag:
 * the file the problem would otherwise point into is never written.
 */
export function checkInitHosts(hosts: readonly string[], flag = '--host'): void {
  const seen: string[] = []
  for (const host of hosts) {
    let normalized: string
    try {
      normalized = normalizeDomain(host)
    } catch (error) {
      if (!(error instanceof JidError)) throw error
      const prefix = `invalid domain ${quoteInput(host)}: `
      const reason = error.message.startsWith(prefix) ? error.message.slice(prefix.length) : error.message
      throw new UsageError(`${flag} ${quoteInput(host)}: not a valid domain: ${reason}`, error.hint)
    }

    if (seen.includes(normalized)) throw new UsageError(`${flag} ${quoteInput(host)}: ${normalized} is already given`, 'give each host once')
    seen.push(normalized)
  }
}

/**
 * Validates the rendered file as `config check` would, then writes it with
 * mode 0600 (configurations come to hold secrets), never replacing an
 * existing file unless `force` is set. A replacement is a new file renamed
 * over the old one, so it is 0600 too whatever the old file's mode was.
 */
export function writeConfigFile(file: string, answers: InitAnswers, force: boolean): InitResult {
  checkInitHosts(answers.hosts)
  const text = renderConfigFile(answers)
  let config: ReturnType<typeof parseConfig>
  try {
    config = parseConfig(text, file)
  } catch (error) {
    if (!(error instanceof ConfigProblemsError)) throw error
    // The file is not written: name the flag that gave the value, not a line in it.
    const [problem] = error.problems
    const flag = FLAG_OF_KEY[problem.key.split(/[.[]/)[0]]
    throw new UsageError(flag ? `${flag}: ${problem.message}` : problem.message, problem.hint)
  }

  try {
    mkdirSync(path.dirname(file), {recursive: true})
    writeFileSecure(file, text, {mode: 0o600, overwrite: force})
  } catch (error) {
    if (error instanceof XmppctlError && error.code === 'file-exists') {
      throw new UsageError(`${file} already exists`, 'add --force to replace it, or choose another file with --config')
    }

    // writeFileSecure's message already names the file and the cause.
    const message = error instanceof XmppctlError ? error.message : `cannot write ${file}: ${osErrorText(error)}`
    throw new XmppctlError('config-unwritable', message, {hint: 'choose a writable path with --config'})
  }

  const {hosts, data_dir, auth_password_format, auth_scram_hash} = config.settings
  return {file, settings: {hosts, data_dir, auth_password_format, auth_scram_hash}}
}
