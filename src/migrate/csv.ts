/**
 * `jid,password` rows with RFC 4180 quoting, read as a stream; and the same
 * written back. An optional first row `jid,password` is a header.
 */
import {createReadStream} from 'node:fs'

import type {SourceRecord} from './types.js'

/** A field longer than this is not a JID or a password. */
const MAX_FIELD = 64 * 1024

interface Row {
  line: number
  fields: string[]
  problem?: string
}

/** Splits CSV text into rows as it streams (RFC 4180 §2; LF and CRLF both end a row). */
export async function* csvRows(chunks: AsyncIterable<string>): AsyncGenerator<Row> {
  let fields: string[] = []
  let field = ''
  let quoted = false
  let afterQuote = false
  let line = 1
  let rowLine = 1
  let problem: string | undefined
  let rowHasContent = false
  const out: Row[] = []
  const endRow = () => {
    fields.push(field)
    if (rowHasContent || fields.length > 1 || field !== '') out.push({line: rowLine, fields, ...(problem ? {problem} : {})})
    fields = []
    field = ''
    problem = undefined
    rowHasContent = false
    afterQuote = false
  }

  let pendingQuote = false
  for await (const chunk of chunks) {
    let index = 0
    if (pendingQuote) {
      // A quote ended the last chunk: doubled (a literal quote) or closing.
      pendingQuote = false
      if (chunk[0] === '"') {
        field += '"'
        index = 1
      } else {
        quoted = false
        afterQuote = true
      }
    }

    for (; index < chunk.length; index++) {
      const character = chunk[index]
      if (quoted) {
        if (character === '"') {
          if (index + 1 === chunk.length) pendingQuote = true
          else if (chunk[index + 1] === '"') {
            field += '"'
            index++
          } else {
            quoted = false
            afterQuote = true
          }
        } else {
          if (character === '\n') line++
          field += character
        }
      } else if (character === ',') {
        fields.push(field)
        field = ''
        afterQuote = false
        rowHasContent = true
      } else if (character === '\n' || character === '\r') {
        if (character === '\r' && chunk[index + 1] === '\n') index++
        endRow()
        line++
        rowLine = line
      } else if (character === '"' && field === '' && !afterQuote) {
        quoted = true
        rowHasContent = true
      } else {
        if (afterQuote) problem ??= 'text after a closing quote'
        if (character === '"') problem ??= 'a quote inside an unquoted field'
        field += character
      }

      if (field.length > MAX_FIELD) {
        problem ??= `a field is longer than ${MAX_FIELD / 1024} KiB`
        field = ''
      }
    }

    yield* out.splice(0)
  }

  if (pendingQuote) quoted = false
  if (quoted) problem ??= 'a quoted field is not closed'
  if (field !== '' || fields.length > 0 || rowHasContent) endRow()
  yield* out.splice(0)
}

export function csvField(value: string): string {
  return /[",\r\n]/.test(value) || value !== value.trim() ? `"${value.replace(/"/g, '""')}"` : value
}

/** Accounts from a `jid,password` file; the JID is split at its last '@'. */
export async function* readCsv(file: string): AsyncGenerator<SourceRecord> {
  let first = true
  for await (const row of csvRows(createReadStream(file, {encoding: 'utf8'}) as AsyncIterable<string>)) {
    const where = `${file}:${row.line}`
    if (first) {
      first = false
      if (row.fields.length === 2 && row.fields[0].trim().toLowerCase() === 'jid' && row.fields[1].trim().toLowerCase() === 'password') continue
    }

    if (row.problem) {
      yield {kind: 'invalid', where, reason: row.problem}
      continue
    }

    if (row.fields.length !== 2) {
      yield {kind: 'invalid', where, reason: `expected 2 fields (jid,password), found ${row.fields.length}`}
      continue
    }

    const [jid, password] = row.fields
    const at = jid.lastIndexOf('@')
    if (at < 0) {
      yield {kind: 'account', where, host: jid, username: '', password, credentials: [], extra: undefined}
      continue
    }

    yield {kind: 'account', where, host: jid.slice(at + 1), username: jid.slice(0, at), password, credentials: [], extra: undefined}
  }
}
