/**
 * Full JIDs as the server routes them (RFC 7622): localpart and domainpart
 * normalised by src/jid, the resource kept as sent after NFC (OpaqueString).
 */
import {normalizeDomain, normalizeLocalpart} from '../jid/index.js'

export interface Jid {
  local: string
  domain: string
  resource: string
}

const MAX_PART_BYTES = 1023

/** Parses and normalises a JID; undefined when it is not one. */
export function parseJid(input: string): Jid | undefined {
  if (input.length === 0 || input.length > 3071) return undefined
  const slash = input.indexOf('/')
  const bare = slash === -1 ? input : input.slice(0, slash)
  const resource = slash === -1 ? '' : input.slice(slash + 1).normalize('NFC')
  if (slash !== -1 && (resource === '' || Buffer.byteLength(resource) > MAX_PART_BYTES || /[\u0000-\u001f\u007f]/.test(resource))) return undefined
  const at = bare.indexOf('@')
  try {
    const local = at === -1 ? '' : normalizeLocalpart(bare.slice(0, at))
    if (at !== -1 && local === '') return undefined
    const domain = normalizeDomain(at === -1 ? bare : bare.slice(at + 1))
    return {local, domain, resource}
  } catch {
    return undefined
  }
}

export function bareJid(jid: Pick<Jid, 'local' | 'domain'>): string {
  return jid.local === '' ? jid.domain : `${jid.local}@${jid.domain}`
}

export function fullJid(jid: Jid): string {
  return jid.resource === '' ? bareJid(jid) : `${bareJid(jid)}/${jid.resource}`
}

/** A local account, by host and normalised localpart. */
export interface Account {
  host: string
  username: string
  bare: string
}

export function accountOf(jid: Pick<Jid, 'local' | 'domain'>): Account {
  return {host: jid.domain, username: jid.local, bare: bareJid(jid)}
}
