/**
 * Which SCRAM hashes can be served for every account of a host (DESIGN.md:
 * "a SCRAM hash is offered on a host only when every account there has it").
 * Asked through the AccountStore interface, so any store answers it.
 */
import type {HostSettings} from '../config/index.js'
import {SCRAM_HASHES, type ScramHash, scramMechanismName} from '../sasl/scram.js'
import type {AccountStore} from '../store/index.js'

export interface ScramCoverage {
  scram: ScramHash[]
  /** Why each missing hash is missing. */
  missing: Partial<Record<ScramHash, string>>
  accounts: number
}

export async function scramCoverage(
  store: AccountStore,
  settings: Pick<HostSettings, 'host' | 'auth_scram_hash' | 'auth_password_format'>,
): Promise<ScramCoverage> {
  const accounts = await store.countAccounts(settings.host)
  const scram: ScramHash[] = []
  const missing: Partial<Record<ScramHash, string>> = {}
  for (const hash of SCRAM_HASHES) {
    const lacking = await store.countAccountsLackingHash(settings.host, hash)
    const configured = settings.auth_password_format === 'plain' || settings.auth_scram_hash.includes(hash)
    if (lacking > 0) {
      missing[hash] = `${lacking} of ${accounts} account${accounts === 1 ? '' : 's'} of ${settings.host} lack ${scramMechanismName(hash)} credentials (reset their passwords, or run "xmppctl scram convert")`
    } else if (accounts === 0 && !configured) {
      // Vacuously true today, false after the first account: do not offer it.
      missing[hash] = `${hash} is not in auth_scram_hash, so new accounts will not have ${scramMechanismName(hash)} credentials`
    } else scram.push(hash)
  }

  return {scram, missing, accounts}
}
