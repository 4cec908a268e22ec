import {closeSync, mkdirSync, openSync, writeSync} from 'node:fs'
import path from 'node:path'
import {stringify} from 'yaml'

import {UsageError, XmppctlError, osErrorText} from '../errors.js'
import {parseConfig} from './index.js'
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
 * Validates the rendered file as `config check` would, then creates it (0600:
 * configurations come to hold secrets) without ever replacing an existing
 * file unless `force` is set.
 */
export function writeConfigFile(file: string, answers: InitAnswers, force: boolean): InitResult {
  const text = renderConfigFile(answers)
  const config = parseConfig(text, file)
  try {
    mkdirSync(path.dirname(file), {recursive: true})
    const fd = openSync(file, force ? 'w' : 'wx', 0o600)
    try {
      writeSync(fd, text)
    } finally {
      closeSync(fd)
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new UsageError(`${file} already exists`, 'add --force to replace it, or choose another file with --config')
    }

    throw new XmppctlError('config-unwritable', `cannot write ${file}: ${osErrorText(error)}`, {hint: 'choose a writable path with --config'})
  }

  const {hosts, data_dir, auth_password_format, auth_scram_hash} = config.settings
  return {file, settings: {hosts, data_dir, auth_password_format, auth_scram_hash}}
}
