/**
 * The per-user data in a Prosody data directory (mod_storage_internal), read
 * as data (lua.ts) and turned into the XEP-0227 shapes user-data.ts
 * prepares, so that every source goes through the same checks and limits:
 * `roster` (contacts, and `[false].pending` inbound requests), `vcard`,
 * `private` (`name:namespace` keys), `offline` and `archive` (list stores of
 * XEP-0313-style items with `when`), `pep` (each node's configuration) with
 * `pep_<node>` (its items). Stanzas are kept as Prosody's util.stanza
 * preserialises them: `{name=…, attr={…}, child…}`.
 */
import {closeSync, fstatSync, openSync, readFileSync} from 'node:fs'
import {readdir} from 'node:fs/promises'
import path from 'node:path'

import {NS} from '../xml/namespaces.js'
import {Element, x} from '../xml/element.js'
import {type LuaTable, type LuaValue, parseLuaData, parseLuaList} from './lua.js'
import {type SourceUserData, emptyUserData} from './user-data.js'

/** A store file larger than this is refused rather than read (mod_storage_internal keeps 10,000 archive items by default). */
const MAX_STORE_BYTES = 64 * 1024 * 1024

/** The stores read, besides `pep_<node>`. */
export const PROSODY_STORES = ['roster', 'vcard', 'private', 'offline', 'archive', 'pep'] as const

const isTable = (value: LuaValue | undefined): value is LuaTable => value !== null && value !== undefined && typeof value === 'object' && !Buffer.isBuffer(value)
const text = (value: LuaValue | undefined): string | undefined => (Buffer.isBuffer(value) ? value.toString('utf8') : undefined)

/** util.datamanager's encoding of a store name: every byte but [A-Za-z0-9_] as %xx, lower case. */
export function prosodyStoreName(store: string): string {
  return [...Buffer.from(store, 'utf8')].map((byte) => (/[A-Za-z0-9_]/.test(String.fromCharCode(byte)) ? String.fromCharCode(byte) : `%${byte.toString(16).padStart(2, '0')}`)).join('')
}

/**
 * An element from util.stanza's preserialised table. Attributes of other
 * namespaces (Prosody keys them `namespace\1name`) are left out; `stamp` on
 * the top element of a list item is mod_storage_internal's (`listItem`), not the stanza's.
 */
export function fromPreserialized(value: LuaValue, parentNs: string = NS.client, listItem = false): Element {
  if (!isTable(value)) throw new Error('a stanza is not a table')
  const name = text(value.entries.get('name'))
  if (!name) throw new Error('a stanza has no name')
  const attrs: Record<string, string> = {}
  let ns = parentNs
  const attrTable = value.entries.get('attr')
  if (isTable(attrTable)) {
    // A Lua table keeps no order: attributes are sorted, so that the same stanza always reads the same.
    for (const [key, attr] of [...attrTable.entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      const content = text(attr)
      if (content === undefined || key.includes('\u0001')) continue
      if (key === 'xmlns') ns = content
      else if (!(listItem && key === 'stamp')) attrs[key] = content
    }
  }

  const element = new Element(name, ns, attrs)
  for (let index = 1; value.entries.has(String(index)); index++) {
    const child = value.entries.get(String(index))!
    if (Buffer.isBuffer(child)) element.append(child.toString('utf8'))
    else element.append(fromPreserialized(child, ns))
  }

  return element
}

/** The time of a list item: `when` (seconds since the epoch, fractional) as mod_storage_internal writes it. */
function whenOf(item: LuaTable): Date | undefined {
  const when = item.entries.get('when')
  return typeof when === 'number' && Number.isFinite(when) ? new Date(Math.round(when * 1000)) : undefined
}

/** The stores a host directory holds, so that an account's missing ones cost no file lookup. */
export async function prosodyHostStores(hostDir: string): Promise<Set<string>> {
  return new Set((await readdir(hostDir, {withFileTypes: true}).catch(() => [])).filter((entry) => entry.isDirectory()).map((entry) => entry.name))
}

export class FileTooLargeError extends Error {}

/**
 * A small file's bytes, or undefined when there is no such file; throws when it is larger than `max`.
 * Synchronous: an import reads hundreds of thousands of these files, and each async call
 * is a round trip through libuv's thread pool (measured: more system time than reading).
 */
export function readBoundedFile(file: string, max: number): Buffer | undefined {
  let descriptor: number
  try {
    descriptor = openSync(file, 'r')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }

  try {
    const info = fstatSync(descriptor)
    if (!info.isFile()) return undefined
    if (info.size > max) throw new FileTooLargeError(`${file} is larger than ${max / 1024 / 1024} MiB`)
    return readFileSync(descriptor)
  } finally {
    closeSync(descriptor)
  }
}

async function load(file: string, list: true): Promise<LuaValue[] | undefined>
async function load(file: string, list: false): Promise<LuaValue | undefined>
async function load(file: string, list: boolean): Promise<LuaValue | LuaValue[] | undefined> {
  const bytes = readBoundedFile(file, MAX_STORE_BYTES)
  if (bytes === undefined) return undefined
  try {
    return list ? parseLuaList(bytes) : parseLuaData(bytes)
  } catch (error) {
    throw new Error(`${file}: not Lua data: ${(error as Error).message}`, {cause: error})
  }
}

/**
 * One account's data from the host directory `hostDir` (`stores`: the store
 * directories it has), its file name `encoded` as Prosody wrote it.
 * Throws with the file's name when a store file is not data.
 */
export async function readProsodyUserData(hostDir: string, stores: Set<string>, encoded: string, owner: string): Promise<SourceUserData | undefined> {
  const data = emptyUserData()
  let found = false
  const file = (store: string, extension: 'dat' | 'list') => (stores.has(store) ? path.join(hostDir, store, `${encoded}.${extension}`) : undefined)
  const keyval = async (store: string) => {
    const name = file(store, 'dat')
    const value = name === undefined ? undefined : await load(name, false)
    if (value !== undefined) found = true
    return value
  }

  const list = async (store: string) => {
    const name = file(store, 'list')
    const value = name === undefined ? undefined : await load(name, true)
    if (value !== undefined) found = true
    return value ?? []
  }

  const roster = await keyval('roster')
  if (isTable(roster)) {
    const query = x('query', NS.roster)
    for (const [contact, entry] of roster.entries) {
      if (!isTable(entry)) continue
      if (contact === 'false') {
        // RFC 6121 §3.1.3: requests the user has not answered, kept by Prosody as [false].pending.
        const pending = entry.entries.get('pending')
        if (isTable(pending)) for (const from of pending.entries.keys()) data.subscriptionRequests.push(x('presence', NS.client, {type: 'subscribe', from, to: owner}))
        continue
      }

      const item = query.c('item', {jid: contact, name: text(entry.entries.get('name')), subscription: text(entry.entries.get('subscription')) ?? 'none', ask: text(entry.entries.get('ask'))})
      const groups = entry.entries.get('groups')
      // A set in Prosody, in no order: sorted, so that the same roster always reads the same.
      if (isTable(groups)) for (const group of [...groups.entries].filter(([, member]) => member === true).map(([name]) => name).sort()) item.c('group').append(group)
    }

    data.roster.push(...query.elements())
  }

  const vcard = await keyval('vcard')
  if (vcard !== undefined) data.vcard = fromPreserialized(vcard, NS.vcard)

  const privateData = await keyval('private')
  if (isTable(privateData)) for (const element of privateData.entries.values()) data.private.push(fromPreserialized(element, ''))

  for (const item of await list('offline')) {
    if (!isTable(item)) continue
    const message = fromPreserialized(item, NS.client, true)
    const when = whenOf(item)
    // XEP-0203: when the old server stored it.
    if (when && !message.getChild('delay', NS.delay)) message.append(x('delay', NS.delay, {stamp: when.toISOString()}))
    data.offline.push(message)
  }

  for (const item of await list('archive')) {
    if (!isTable(item)) continue
    const when = whenOf(item)
    const key = text(item.entries.get('key'))
    data.archive.push(x('result', NS.mam, {id: key}, x('forwarded', NS.forward, {}, when ? x('delay', NS.delay, {stamp: when.toISOString()}) : undefined, fromPreserialized(item, NS.client, true))))
  }

  const pep = await keyval('pep')
  if (isTable(pep)) {
    const owners = x('pubsub', NS.pubsubOwner)
    const published = x('pubsub', NS.pubsub)
    for (const [node, entry] of pep.entries) {
      // mod_pep writes `true` for a node it knows without a configuration of its own.
      const config = isTable(entry) ? entry.entries.get('config') : undefined
      const form = x('x', NS.dataForms, {type: 'submit'})
      if (isTable(config)) {
        for (const [key, value] of config.entries) {
          const content = typeof value === 'boolean' || typeof value === 'number' ? String(value) : text(value)
          if (content !== undefined) form.append(x('field', NS.dataForms, {var: `pubsub#${key}`}, x('value', NS.dataForms, {}, content)))
        }
      }

      owners.append(x('configure', NS.pubsubOwner, {node}, form))
      const items = published.c('items', {node})
      for (const item of await list(prosodyStoreName(`pep_${node}`))) {
        if (!isTable(item)) continue
        items.append(x('item', NS.pubsub, {id: text(item.entries.get('key'))}, fromPreserialized(item, '', true)))
      }
    }

    data.pepConfig.push(...owners.elements())
    data.pepItems.push(...published.elements())
  }

  return found ? data : undefined
}
