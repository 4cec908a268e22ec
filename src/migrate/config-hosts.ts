/**
 * `--add-hosts`: appends hosts to the configuration file's `hosts` list,
 * keeping its comments and layout, replaced atomically (write, fsync, rename).
 */
import {closeSync, fsyncSync, openSync, readFileSync, renameSync, statSync, writeSync} from 'node:fs'
import {isSeq, parseDocument} from 'yaml'

import type {Configuration} from '../config/index.js'
import {UsageError} from '../errors.js'

export function addHostsToConfigFile(config: Configuration, hosts: readonly string[]): void {
  if (!config.file) {
    throw new UsageError('--add-hosts needs a configuration file to add the hosts to, and none is in use', 'create one with "xmppctl config init", or pass --config')
  }

  const document = parseDocument(readFileSync(config.file, 'utf8'))
  const list = document.get('hosts', true)
  if (isSeq(list)) for (const host of hosts) list.add(host)
  else document.set('hosts', [...config.hosts, ...hosts])
  const temporary = `${config.file}.${process.pid}.tmp`
  const descriptor = openSync(temporary, 'wx', statSync(config.file).mode & 0o777)
  try {
    writeSync(descriptor, document.toString())
    fsyncSync(descriptor)
  } finally {
    closeSync(descriptor)
  }

  renameSync(temporary, config.file)
}
