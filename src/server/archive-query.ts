/**
 * XEP-0313 queries, whoever keeps the archive (an account's, mod_mam; a
 * room's, mod_muc): the query form and its filters, XEP-0059 pages, and the
 * results sent back.
 */
import type {ArchiveFilter, ArchivePage, ArchiveResult} from '../store/archive-store.js'
import {bareJid, parseJid} from './jid.js'
import {NS} from '../xml/namespaces.js'
import {type Element, x} from '../xml/element.js'
import {parseElement} from '../xml/parser.js'

/** XEP-0059's page when the client names no <max/>, as ejabberd. */
export const DEFAULT_PAGE = 50
/** XEP-0082 DateTime. */
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/
/** The form fields a query may fill (§4.1, and #extended's). */
export const FIELDS = new Set(['FORM_TYPE', 'with', 'start', 'end', 'before-id', 'after-id', 'ids'])

/** A query the client got wrong, answered with bad-request and this text. */
export class BadQuery extends Error {}

export function field(form: Element, name: string): string[] {
  const found = form.getChildren('field', NS.dataForms).find((candidate) => candidate.attrs.var === name)
  return found ? found.getChildren('value', NS.dataForms).map((value) => value.text()) : []
}

function dateField(form: Element, name: string): Date | undefined {
  const [value] = field(form, name)
  if (value === undefined) return undefined
  const date = new Date(value.trim())
  if (!DATE_TIME.test(value.trim()) || Number.isNaN(date.getTime())) throw new BadQuery(`the ${name} field is not an XEP-0082 date and time (2024-05-01T12:00:00Z)`)
  return date
}

/** The query form's filters (§4.1; before-id, after-id and ids of #extended). */
export function parseFilter(query: Element): ArchiveFilter {
  const ns = query.ns
  const form = query.getChild('x', NS.dataForms)
  if (!form) return {}
  for (const candidate of form.getChildren('field', NS.dataForms)) {
    const name = candidate.attrs.var ?? ''
    if (!FIELDS.has(name)) throw new BadQuery(`the query form has no field ${name}; fields: ${[...FIELDS].join(', ')}`)
  }

  const [formType] = field(form, 'FORM_TYPE')
  if (formType !== undefined && formType !== ns) throw new BadQuery(`the form's FORM_TYPE must be ${ns}`)
  const filter: ArchiveFilter = {start: dateField(form, 'start'), end: dateField(form, 'end')}
  const [withText] = field(form, 'with')
  if (withText !== undefined) {
    const jid = parseJid(withText.trim())
    if (!jid) throw new BadQuery(`the with field is not a JID: ${withText}`)
    filter.with = bareJid(jid)
    if (jid.resource !== '') filter.withResource = jid.resource
  }

  const [afterId] = field(form, 'after-id')
  const [beforeId] = field(form, 'before-id')
  if (afterId !== undefined) filter.afterId = afterId
  if (beforeId !== undefined) filter.beforeId = beforeId
  const ids = field(form, 'ids')
  if (ids.length > 0) filter.ids = ids
  return filter
}

export function parsePage(query: Element, maxPageSize: number): ArchivePage {
  const set = query.getChild('set', NS.rsm)
  const maxText = set?.getChildText('max', NS.rsm)
  let max = Math.min(DEFAULT_PAGE, maxPageSize)
  if (maxText !== undefined) {
    if (!/^\s*\d{1,9}\s*$/.test(maxText)) throw new BadQuery('<max/> must be a whole number')
    // XEP-0059 §2.1 lets the responder return fewer items than asked.
    max = Math.min(Number(maxText), maxPageSize)
  }

  const after = set?.getChildText('after', NS.rsm)
  const before = set?.getChildText('before', NS.rsm)
  if (after !== undefined && before !== undefined) throw new BadQuery('a page is asked for with <after/> or with <before/>, not both')
  return {max, after: after?.trim(), before: before?.trim()}
}

/** The form a client asks for before a query (§4.1.5), in the namespace it asked in. */
export function queryForm(ns: string): Element {
  const form = x('x', NS.dataForms, {type: 'form'})
  form.c('field', {var: 'FORM_TYPE', type: 'hidden'}).c('value').append(ns)
  for (const [name, type] of [
    ['with', 'jid-single'],
    ['start', 'text-single'],
    ['end', 'text-single'],
    ['before-id', 'text-single'],
    ['after-id', 'text-single'],
    ['ids', 'list-multi'],
  ]) {
    form.c('field', {var: name, type})
  }

  return x('query', ns, {}, form)
}


/**
 * Sends a page of results (§4.2) to `send`, one message each from `from`,
 * then the <fin/>; `ready` paces them by what the client reads and returns
 * false when it has gone. Stored stanzas that are not well-formed are skipped
 * and handed to `damaged`.
 */
export async function sendArchivePage(
  options: {query: Element; iq: Element; from: string; to: string; result: ArchiveResult; send: (stanza: Element) => void; ready?: () => Promise<boolean>; damaged?: (id: string) => void; iqFrom?: string},
): Promise<void> {
  const {query, result} = options
  const messages = query.getChild('flip-page', query.ns) ? [...result.messages].reverse() : result.messages
  const queryid = query.attrs.queryid
  for (const message of messages) {
    if (options.ready && !(await options.ready())) return
    const original = parseElement(message.stanza)
    if (!original) {
      options.damaged?.(message.id)
      continue
    }

    const forwarded = x('forwarded', NS.forward, {}, x('delay', NS.delay, {stamp: message.at.toISOString()}), original)
    options.send(x('message', NS.client, {from: options.from, to: options.to}, x('result', query.ns, {queryid, id: message.id}, forwarded)))
  }

  const set = x('set', NS.rsm)
  if (messages.length > 0) set.append(x('first', NS.rsm, {index: String(result.firstIndex)}, messages[0].id), x('last', NS.rsm, {}, messages.at(-1)!.id))
  set.append(x('count', NS.rsm, {}, String(result.count)))
  const iq = options.iq
  options.send(x('iq', NS.client, {type: 'result', id: iq.attrs.id, from: iq.attrs.to ?? options.iqFrom, to: iq.attrs.from}, x('fin', query.ns, {complete: result.complete ? 'true' : undefined}, set)))
}
