/**
 * Prosody's file storage: `<data_path>/<host>/accounts/<user>.dat` (and the
 * account's other stores, prosody-data.ts), host and
 * user %-encoded, each file a Lua table literal read as data (lua.ts).
 * internal_hashed keeps `stored_key`/`server_key` as hex, `salt` as a raw
 * string whose bytes are the salt, `iteration_count`; internal_plain keeps
 * `password`.
 */
import {opendir, stat} from 'node:fs/promises'
import path from 'node:path'

import type {ScramHash} from '../sasl/scram.js'
import {type LuaTable, type LuaValue, parseLuaData} from './lua.js'
import {FileTooLargeError, prosodyHostStores, readBoundedFile, readProsodyUserData} from './prosody-data.js'
import type {SourceRecord} from './types.js'
import {credentialsProblem} from './xep0227.js'

/** An account file larger than this is not an account file. */
const MAX_DAT_BYTES = 1024 * 1024

/** Prosody's encoding of store names: every byte outside [A-Za-z0-9] except what it keeps as %xx. */
export function decodeProsodyName(encoded: string): string | undefined {
  if (/%(?![0-9A-Fa-f]{2})/.test(encoded)) return undefined
  const bytes = Buffer.from(encoded.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16))), 'latin1')
  const text = bytes.toString('utf8')
  return Buffer.from(text, 'utf8').equals(bytes) ? text : undefined
}

/** The directories under `source` that hold Prosody account files, with their decoded host. */
export async function prosodyHosts(source: string): Promise<Array<{host: string; dir: string}>> {
  const hosts: Array<{host: string; dir: string}> = []
  for await (const entry of await opendir(source)) {
    if (!entry.isDirectory()) continue
    const dir = path.join(source, entry.name, 'accounts')
    const found = await stat(dir).catch(() => undefined)
    if (!found?.isDirectory()) continue
    hosts.push({host: decodeProsodyName(entry.name) ?? entry.name, dir})
  }

  return hosts.sort((a, b) => (a.host < b.host ? -1 : a.host > b.host ? 1 : 0))
}

const HASH_BY_KEY_BYTES: Record<number, ScramHash> = {20: 'sha1', 32: 'sha256', 64: 'sha512'}

function field(table: LuaTable, key: string): LuaValue | undefined {
  return table.entries.get(key)
}

/** Turns the table of one account file into a record. */
export function prosodyAccount(where: string, host: string, username: string, value: LuaValue): SourceRecord {
  const jid = `${username}@${host}`
  if (value === null || typeof value !== 'object' || Buffer.isBuffer(value)) return {kind: 'invalid', where, jid, reason: 'the file does not hold a table'}
  const password = field(value, 'password')
  const storedKey = field(value, 'stored_key')
  const serverKey = field(value, 'server_key')
  const salt = field(value, 'salt')
  const iterations = field(value, 'iteration_count')
  if (Buffer.isBuffer(storedKey) || Buffer.isBuffer(serverKey)) {
    const hex = (buffer: LuaValue | undefined) => (Buffer.isBuffer(buffer) && /^(?:[0-9a-fA-F]{2})+$/.test(buffer.toString('latin1')) ? Buffer.from(buffer.toString('latin1'), 'hex') : undefined)
    const stored = hex(storedKey)
    const server = hex(serverKey)
    if (!stored || !server) return {kind: 'invalid', where, jid, reason: 'stored_key and server_key must both be hex strings'}
    if (!Buffer.isBuffer(salt)) return {kind: 'invalid', where, jid, reason: 'the account has keys but no salt string'}
    if (typeof iterations !== 'number') return {kind: 'invalid', where, jid, reason: 'the account has keys but no iteration_count'}
    // Prosody 0.12 stores no hash name; the key length tells (SHA-1 keys are 20 bytes).
    const named = field(value, 'password_hash') ?? field(value, 'hash')
    const namedHash = Buffer.isBuffer(named) ? named.toString('latin1').toLowerCase().replace(/[^a-z0-9]/g, '') : undefined
    const hash = (namedHash && ['sha1', 'sha256', 'sha512'].includes(namedHash) ? namedHash : HASH_BY_KEY_BYTES[stored.length]) as ScramHash | undefined
    if (!hash) return {kind: 'invalid', where, jid, reason: `a ${stored.length}-byte stored_key matches no SCRAM hash`}
    const credentials = {hash, salt: Buffer.from(salt), iterations, storedKey: stored, serverKey: server}
    const problem = credentialsProblem(credentials)
    if (problem) return {kind: 'invalid', where, jid, reason: problem}
    return {kind: 'account', where, host, username, password: undefined, credentials: [credentials], extra: undefined}
  }

  if (Buffer.isBuffer(password)) {
    const text = password.toString('utf8')
    if (!Buffer.from(text, 'utf8').equals(password)) return {kind: 'invalid', where, jid, reason: 'the password is not valid UTF-8'}
    return {kind: 'account', where, host, username, password: text, credentials: [], extra: undefined}
  }

  return {kind: 'account', where, host, username, password: undefined, credentials: [], extra: undefined}
}

/**
 * Accounts read at once: each costs several file system calls (stat, open,
 * read, close, for the account and each store), which go one at a time
 * through libuv's thread pool; awaited in turn, the import sat idle more than
 * half of the time (measured: 10,000 accounts with a vCard, 3.9 of 7.5 s).
 * Records still come out in directory order.
 */
const READ_AHEAD = 32

/** Every account of a Prosody data directory, with its data from the host's other stores (prosody-data.ts). */
export async function* readProsody(source: string): AsyncGenerator<SourceRecord> {
  for (const {host, dir} of await prosodyHosts(source)) {
    const hostDir = path.dirname(dir)
    const stores = await prosodyHostStores(hostDir)
    const pending: Array<Promise<SourceRecord>> = []
    // opendir streams the directory: a million account files never sit in one array.
    for await (const entry of await opendir(dir, {bufferSize: 256})) {
      if (!entry.isFile() || !entry.name.endsWith('.dat')) continue
      const record = readAccount(host, hostDir, stores, path.join(dir, entry.name), entry.name.slice(0, -'.dat'.length))
      // Awaited below, in order; marked handled now so that a failure before its turn is not an unhandled rejection.
      record.catch(() => undefined)
      pending.push(record)
      if (pending.length >= READ_AHEAD) {
        yield await pending.shift()!
      }
    }

    for (const record of pending) yield await record
  }
}

/** One account file and the account's data. */
async function readAccount(host: string, hostDir: string, stores: Set<string>, file: string, encoded: string): Promise<SourceRecord> {
  const username = decodeProsodyName(encoded)
  if (username === undefined) return {kind: 'invalid', where: file, reason: 'the file name is not a valid %-encoded UTF-8 user name'}
  let bytes: Buffer | undefined
  try {
    bytes = readBoundedFile(file, MAX_DAT_BYTES)
  } catch (error) {
    if (error instanceof FileTooLargeError) return {kind: 'invalid', where: file, jid: `${username}@${host}`, reason: 'the account file is larger than 1 MiB'}
    throw error
  }

  // Gone since the directory was listed: it is no account any more.
  if (bytes === undefined) return {kind: 'invalid', where: file, jid: `${username}@${host}`, reason: 'the account file disappeared during the import'}
  let value: LuaValue
  try {
    value = parseLuaData(bytes)
  } catch (error) {
    return {kind: 'invalid', where: file, jid: `${username}@${host}`, reason: `not a Lua data table: ${(error as Error).message}`}
  }

  const record = prosodyAccount(file, host, username, value)
  if (record.kind === 'account') {
    try {
      const data = await readProsodyUserData(hostDir, stores, encoded, `${username}@${host}`)
      if (data) record.data = data
    } catch (error) {
      // A store file that is not data: the account waits until it is fixed, rather than coming in without it.
      return {kind: 'invalid', where: file, jid: `${username}@${host}`, reason: (error as Error).message}
    }
  }

  return record
}
