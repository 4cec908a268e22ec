/**
 * `user export`: every account (of the given hosts) to XEP-0227, one file for
 * all hosts, one per host in a directory, or one per account in a directory
 * (Prosody's mod_storage_xep0227 layout, `<user>@<host>.xml`), each account
 * with all the data the server keeps for it (export-data.ts); or to CSV
 * where plaintext exists. Files are created 0600 from the start: they hold
 * secrets or their hashes.
 */
import {type FileHandle, open, rm, stat} from 'node:fs/promises'
import path from 'node:path'

import type {AccountContext} from '../accounts/index.js'
import {UsageError, osErrorText} from '../errors.js'
import {formatJid} from '../jid/index.js'
import {csvField} from './csv.js'
import {formatUserData} from './export-data.js'
import type {ExportFormat} from './types.js'
import {DATA_KINDS, type DataKind} from './user-data.js'
import {HOST_CLOSE, XEP0227_HEAD, XEP0227_TAIL, formatUser, hostOpen} from './xep0227.js'

export interface ExportOptions {
  format: ExportFormat
  dest: string
  hosts?: readonly string[]
  /** Replace existing files. */
  force: boolean
  /** XEP-0227 for ejabberdctl import_piefxis: one <scram-credentials> per account, keys base64-encoded twice. */
  ejabberd?: boolean
  /** XEP-0227, one file per account in the directory `dest`, named as Prosody's mod_storage_xep0227 reads them. */
  perUser?: boolean
  /** Accounts only, without their roster, vCard, offline messages, private XML, PEP and archive. */
  accountsOnly?: boolean
}

export interface ExportResult {
  format: ExportFormat
  files: string[]
  accounts: number
  /** CSV only: accounts without plaintext, which cannot be written. */
  skipped: number
  /** XEP-0227: the accounts' data written, per kind. */
  data: Record<DataKind, number>
  /** Stored entries that did not parse as XML (damaged), left out. */
  unreadable: number
}

/** Buffered writes: one syscall per 64 KiB rather than per account. */
class Output {
  private parts: string[] = []
  private size = 0

  private constructor(readonly file: string, private readonly handle: FileHandle) {}

  static async create(file: string, force: boolean): Promise<Output> {
    if (force) await rm(file, {force: true})
    try {
      return new Output(file, await open(file, 'wx', 0o600))
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw new UsageError(`${file} already exists`, 'choose another destination, or add --force to replace it')
      throw new UsageError(`cannot create ${file}: ${osErrorText(error)}`, 'choose a destination this user can write')
    }
  }

  async write(text: string): Promise<void> {
    this.parts.push(text)
    this.size += text.length
    if (this.size >= 64 * 1024) await this.flush()
  }

  async close(): Promise<void> {
    await this.flush()
    await this.handle.sync()
    await this.handle.close()
  }

  private async flush(): Promise<void> {
    if (this.parts.length === 0) return
    await this.handle.write(this.parts.join(''))
    this.parts = []
    this.size = 0
  }
}

export async function exportAccounts({config, store}: AccountContext, options: ExportOptions): Promise<ExportResult> {
  const hosts = options.hosts && options.hosts.length > 0 ? options.hosts.map((host) => config.requireHost(host)) : [...config.hosts]
  const result: ExportResult = {format: options.format, files: [], accounts: 0, skipped: 0, data: Object.fromEntries(DATA_KINDS.map((kind) => [kind, 0])) as Record<DataKind, number>, unreadable: 0}
  const isDirectory = (await stat(options.dest).catch(() => undefined))?.isDirectory() ?? false
  if (options.format === 'csv' && isDirectory) throw new UsageError(`${options.dest} is a directory`, 'give the path of the CSV file to write')
  if (options.perUser && (options.format !== 'xep0227' || !isDirectory)) throw new UsageError(`${options.dest} is not a directory`, 'one file per account (--prosody) is written into an existing directory: create it first')

  const perHost = options.format === 'xep0227' && isDirectory && !options.perUser
  const userXml = async (username: string, account: Parameters<typeof formatUser>[1], host: string): Promise<string> => {
    let inner = ''
    if (!options.accountsOnly) {
      const data = await store.exportAccountData(host, username)
      if (data) {
        const formatted = formatUserData(data, {host, username}, {ejabberd: options.ejabberd})
        for (const kind of DATA_KINDS) result.data[kind] += formatted.counts[kind]
        result.unreadable += formatted.unreadable
        inner = formatted.xml
      }
    }

    return formatUser(username, account, {ejabberd: options.ejabberd}, inner)
  }

  let output: Output | undefined
  try {
    if (!perHost && !options.perUser) {
      output = await Output.create(options.dest, options.force)
      result.files.push(options.dest)
      if (options.format === 'xep0227') await output.write(XEP0227_HEAD)
      else await output.write('jid,password\r\n')
    }

    for (const host of hosts) {
      if (perHost) {
        output = await Output.create(path.join(options.dest, `${host}.xml`), options.force)
        result.files.push(output.file)
        await output.write(XEP0227_HEAD)
      }

      if (options.format === 'xep0227' && !options.perUser) await output!.write(hostOpen(host))
      for await (const summary of store.listAccounts(host)) {
        if (options.format === 'csv' && !summary.hasPlaintext) {
          result.skipped++
          continue
        }

        const account = await store.getAccount(summary.host, summary.username)
        if (!account) continue // deleted meanwhile
        if (options.format === 'csv') {
          await output!.write(`${csvField(formatJid({local: account.username, domain: account.host}))},${csvField(account.plaintext!)}\r\n`)
        } else if (options.perUser) {
          // mod_storage_xep0227 reads <data_path>/<user>@<host>.xml, each a whole <server-data> of one <host> and one <user>.
          const file = await Output.create(path.join(options.dest, `${formatJid({local: account.username, domain: account.host})}.xml`), options.force)
          try {
            await file.write(XEP0227_HEAD + hostOpen(host) + (await userXml(account.username, account, host)) + HOST_CLOSE + XEP0227_TAIL)
          } finally {
            await file.close()
          }

          if (result.files.length < 1000) result.files.push(file.file)
        } else {
          await output!.write(await userXml(account.username, account, host))
        }

        result.accounts++
      }

      if (options.format === 'xep0227' && !options.perUser) await output!.write(HOST_CLOSE)
      if (perHost) {
        await output!.write(XEP0227_TAIL)
        await output!.close()
        output = undefined
      }
    }

    if (output) {
      if (options.format === 'xep0227') await output.write(XEP0227_TAIL)
      await output.close()
      output = undefined
    }
  } finally {
    await output?.close().catch(() => {})
  }

  return result
}
