/**
 * mod_vcard: vcard-temp (XEP-0054). The user stores a vCard by a set with no
 * `to` (or to the own bare JID; anyone else's: forbidden, §3.2) and reads it
 * back; an empty one when none is stored (§3.1). Anyone may read another
 * account's vCard; when it has none, or does not exist, the answer is the
 * same service-unavailable (§3.3, version 1.3: no directory harvesting).
 * A set of an empty vCard removes the stored one.
 */
import {StoreError} from '../../errors.js'
import {NS} from '../../xml/namespaces.js'
import {errorReply, iqResult} from '../stanza.js'
import {detached, hasContent, x} from '../../xml/element.js'
import {parseElement} from '../../xml/parser.js'
import type {IqRequest, ModuleContext, ServerModule} from './types.js'

export interface VcardOptions {
  /** Bytes of one serialised vCard. */
  maxSize: number
}

export function createVcardModule(context: ModuleContext, options: VcardOptions): ServerModule {
  const {vcards} = context

  // Anyone may read a vCard (XEP-0054 §3.1): the account's contacts, other servers' users, a room forwarding an occupant's request.
  const get = async ({sender, stanza, account, own}: IqRequest): Promise<void> => {
    const stored = await vcards.getVcard(account!.host, account!.username)
    if (stored === undefined) {
      if (own) return sender.send(iqResult(stanza, undefined, x('vCard', NS.vcard)))
      return sender.send(errorReply(stanza, 'service-unavailable', account!.bare))
    }

    const vcard = parseElement(stored)
    if (!vcard) throw new StoreError('store-corrupt', `the stored vCard of ${account!.bare} is not well-formed XML`, 'set it again from a client')
    sender.send(iqResult(stanza, own ? undefined : account!.bare, vcard))
  }

  const set = async ({session, stanza, query, account, own}: IqRequest): Promise<void> => {
    if (!own) return session.send(errorReply(stanza, 'forbidden', account!.bare))
    const vcard = hasContent(query) ? detached(query, [stanza]).toString() : undefined
    if (vcard !== undefined && Buffer.byteLength(vcard) > options.maxSize) {
      return session.send(errorReply(stanza, 'not-acceptable', undefined, `the vCard is larger than ${options.maxSize} bytes`))
    }

    if (!(await vcards.setVcard(account!.host, account!.username, vcard))) return session.send(errorReply(stanza, 'not-allowed', undefined, 'this account no longer exists'))
    session.send(iqResult(stanza, undefined))
  }

  return {
    name: 'mod_vcard',
    // §4 asks for the feature on the server; ejabberd also lists it on accounts, where vCards live.
    features: [NS.vcard],
    accountFeatures: [NS.vcard],
    iq: [
      {ns: NS.vcard, name: 'vCard', types: ['get'], to: ['account'], remote: true, handle: get},
      {ns: NS.vcard, name: 'vCard', types: ['set'], to: ['account'], handle: set},
    ],
  }
}
