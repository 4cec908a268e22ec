/**
 * The per-user data in ejabberd's SQL schema (mod_roster_sql, mod_vcard_sql,
 * mod_offline_sql, mod_private_sql, mod_mam_sql, node_pep_sql), turned into
 * the XEP-0227 shapes user-data.ts prepares, so that every source goes
 * through the same checks and limits. Stanzas and payloads are XML text in
 * ejabberd's tables; roster states are its one-letter codes.
 */
import {NS} from '../xml/namespaces.js'
import {type Element, x} from '../xml/element.js'
import {parseElement} from '../xml/parser.js'
import {type SourceUserData, emptyUserData} from './user-data.js'

/** mod_roster_sql's encode_subscription/1. */
const SUBSCRIPTION: Record<string, string> = {B: 'both', T: 'to', F: 'from', N: 'none'}
/** mod_roster_sql's encode_ask/1: O(ut), B(oth) is pending out; I(n), B(oth) pending in. */
const ASK_OUT = new Set(['S', 'O', 'B'])
const ASK_IN = new Set(['I', 'B'])
/** node_pep_sql's options this server keeps, under their XEP-0060 §16.4.3 field names. */
const PEP_OPTIONS = ['access_model', 'persist_items', 'max_items', 'send_last_published_item']

export interface DataTables {
  /** The tables the database has, by name. */
  tables: Set<string>
  /** Whether the per-user tables have server_host (the multi-host schema). */
  multiHost: boolean
  query(sql: string, params: unknown[]): Promise<Array<Record<string, unknown>>>
}

const str = (value: unknown): string => (value === null || value === undefined ? '' : String(value))

/** A stored XML text as an element, or an error naming where it was. */
function xml(text: unknown, where: string): Element {
  const element = parseElement(str(text))
  if (!element) throw new Error(`${where} is not well-formed XML`)
  return element
}

/** ejabberd's created_at / modification times: SQL timestamps in UTC, or its erlang:timestamp() text "Mega,Sec,Micro" (pubsub). */
function sqlTime(value: unknown): Date | undefined {
  if (value instanceof Date) return value
  const text = str(value)
  const erlang = /^(\d+)[:,](\d+)[:,](\d+)$/.exec(text)
  if (erlang) return new Date((Number(erlang[1]) * 1e6 + Number(erlang[2])) * 1000 + Math.floor(Number(erlang[3]) / 1000))
  const date = new Date(/Z|[+-]\d\d:?\d\d$/.test(text) ? text.replace(' ', 'T') : `${text.replace(' ', 'T')}Z`)
  return Number.isNaN(date.getTime()) ? undefined : date
}

/** One account's data; undefined when it has none. Throws with the table's name when a stored XML text is not XML. */
export async function readEjabberdUserData(db: DataTables, host: string, username: string): Promise<SourceUserData | undefined> {
  const data = emptyUserData()
  let found = false
  const owner = `${username}@${host}`
  const rows = async (table: string, columns: string, order: string) => {
    if (!db.tables.has(table)) return []
    const where = db.multiHost ? 'username = $1 AND server_host = $2' : 'username = $1'
    const result = await db.query(`SELECT ${columns} FROM ${table} WHERE ${where} ORDER BY ${order}`, db.multiHost ? [username, host] : [username])
    if (result.length > 0) found = true
    return result
  }

  const groups = new Map<string, string[]>()
  for (const row of await rows('rostergroups', 'jid, grp', 'jid, grp')) groups.set(str(row.jid), [...(groups.get(str(row.jid)) ?? []), str(row.grp)])
  const roster = x('query', NS.roster)
  for (const row of await rows('rosterusers', 'jid, nick, subscription, ask, askmessage', 'jid')) {
    const jid = str(row.jid)
    const subscription = SUBSCRIPTION[str(row.subscription)] ?? str(row.subscription)
    const ask = str(row.ask)
    // RFC 6121 §3.1.3: a request the user has not answered; ejabberd keeps it as an item that no client sees while it is only that.
    if (ASK_IN.has(ask)) data.subscriptionRequests.push(x('presence', NS.client, {type: 'subscribe', from: jid, to: owner}, str(row.askmessage) ? x('status', NS.client, {}, str(row.askmessage)) : undefined))
    if (subscription === 'none' && ask === 'I') continue
    const item = roster.c('item', {jid, name: str(row.nick) || undefined, subscription, ask: ASK_OUT.has(ask) ? 'subscribe' : undefined})
    for (const group of groups.get(jid) ?? []) item.c('group').append(group)
  }

  data.roster.push(...roster.elements())
  const vcard = (await rows('vcard', 'vcard', 'username'))[0]
  if (vcard) data.vcard = xml(vcard.vcard, 'a vcard row')
  for (const row of await rows('spool', 'xml, created_at', 'seq')) {
    const message = xml(row.xml, 'a spool row')
    const at = sqlTime(row.created_at)
    if (at && !message.getChild('delay', NS.delay)) message.append(x('delay', NS.delay, {from: host, stamp: at.toISOString()}))
    data.offline.push(message)
  }

  for (const row of await rows('private_storage', 'data', 'namespace')) data.private.push(xml(row.data, 'a private_storage row'))
  // mod_mam_sql: `timestamp` is the archive id, microseconds since the epoch; a room's archive (kind groupchat) is not an account's.
  for (const row of await rows('archive', 'timestamp, xml, kind', 'timestamp')) {
    if (str(row.kind) === 'groupchat') continue
    const message = xml(row.xml, 'an archive row')
    const stamp = new Date(Math.floor(Number(row.timestamp) / 1000)).toISOString()
    data.archive.push(x('result', NS.mam, {id: str(row.timestamp)}, x('forwarded', NS.forward, {}, x('delay', NS.delay, {stamp}), message)))
  }

  // node_pep_sql: an account's PEP nodes have its bare JID as their host.
  if (db.tables.has('pubsub_node')) {
    const nodes = await db.query("SELECT nodeid, node FROM pubsub_node WHERE host = $1 AND plugin = 'pep' ORDER BY nodeid", [owner])
    if (nodes.length > 0) found = true
    const owners = x('pubsub', NS.pubsubOwner)
    const published = x('pubsub', NS.pubsub)
    for (const node of nodes) {
      const form = x('x', NS.dataForms, {type: 'submit'})
      if (db.tables.has('pubsub_node_option')) {
        for (const option of await db.query('SELECT name, val FROM pubsub_node_option WHERE nodeid = $1', [node.nodeid])) {
          if (PEP_OPTIONS.includes(str(option.name))) form.append(x('field', NS.dataForms, {var: `pubsub#${str(option.name)}`}, x('value', NS.dataForms, {}, str(option.val))))
        }
      }

      owners.append(x('configure', NS.pubsubOwner, {node: str(node.node)}, form))
      const items = published.c('items', {node: str(node.node)})
      if (!db.tables.has('pubsub_item')) continue
      // Oldest first, as the node keeps them.
      for (const item of await db.query('SELECT itemid, publisher, modification, payload FROM pubsub_item WHERE nodeid = $1 ORDER BY modification', [node.nodeid])) {
        const payload = str(item.payload) === '' ? undefined : xml(item.payload, 'a pubsub_item row')
        items.append(x('item', NS.pubsub, {id: str(item.itemid), publisher: str(item.publisher).split('/')[0] || undefined}, payload))
      }
    }

    data.pepConfig.push(...owners.elements())
    data.pepItems.push(...published.elements())
  }

  return found ? data : undefined
}
