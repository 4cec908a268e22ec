/** Opens a source of any format as one stream of records. */
import {stat} from 'node:fs/promises'

import {UsageError, osErrorText} from '../errors.js'
import {readCsv} from './csv.js'
import {isPostgresUrl, readEjabberdSql} from './ejabberd-sql.js'
import {prosodyHosts, readProsody} from './prosody.js'
import type {SourceFormat, SourceRecord} from './types.js'
import {readXep0227} from './xep0227.js'

/** Fails early, with a hint, when `source` cannot be what `format` reads. */
export async function checkSource(format: SourceFormat, source: string): Promise<void> {
  if (format === 'ejabberd-sql' && isPostgresUrl(source)) return
  const info = await stat(source).catch((error: unknown) => {
    throw new UsageError(`cannot read ${source}: ${osErrorText(error)}`, 'check the path of the source')
  })
  if (format === 'prosody') {
    if (!info.isDirectory()) throw new UsageError(`${source} is not a directory`, "give Prosody's data directory (data_path), which holds <host>/accounts/")
    if ((await prosodyHosts(source)).length === 0) {
      throw new UsageError(`${source} holds no <host>/accounts/ directory`, "give Prosody's data directory (data_path), e.g. /var/lib/prosody")
    }
  } else if ((format === 'csv' || format === 'ejabberd-sql') && !info.isFile()) {
    throw new UsageError(`${source} is not a file`, format === 'csv' ? 'give a CSV file of jid,password rows' : "give ejabberd's SQLite file or a postgresql:// URL")
  }
}

export function readSource(format: SourceFormat, source: string, options: {host?: string} = {}): AsyncGenerator<SourceRecord> {
  switch (format) {
    case 'xep0227':
      return readXep0227(source)
    case 'prosody':
      return readProsody(source)
    case 'ejabberd-sql':
      return readEjabberdSql(source, options.host)
    case 'csv':
      return readCsv(source)
  }
}
