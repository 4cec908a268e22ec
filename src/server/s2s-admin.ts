/**
 * `xmppctl s2s list` and `s2s close`: what the running server's
 * federation streams are, asked over its control socket (control.ts).
 */
import type {Configuration} from '../config/index.js'
import {parseJid} from './jid.js'
import {controlRequest} from './control.js'
import type {S2sConnectionInfo} from './s2s.js'
import {UsageError} from '../errors.js'

export interface S2sListResult {
  connections: S2sConnectionInfo[]
}

/** The running server's s2s streams, incoming first; throws ServerNotRunningError when none runs. */
export async function listS2s(config: Configuration): Promise<S2sListResult> {
  const connections = (await controlRequest(config, {command: 's2s-list'})) as S2sConnectionInfo[]
  return {connections}
}

/** Closes the running server's streams to and from `domain`. */
export async function closeS2s(config: Configuration, domain: string): Promise<{domain: string; closed: number}> {
  const jid = parseJid(domain)
  if (!jid || jid.local !== '' || jid.resource !== '') throw new UsageError(`"${domain}" is not a domain`, 'give the peer\'s domain, e.g. example.net')
  const {closed} = (await controlRequest(config, {command: 's2s-close', domain: jid.domain})) as {closed: number}
  return {domain: jid.domain, closed}
}
