/**
 * Credentials at rest: hosts that keep plaintext passwords, accounts that
 * still hold one, and accounts lacking a SCRAM hash the host is configured
 * for (the server then offers that SCRAM variant to nobody on the host).
 */
import {XmppctlError} from '../../errors.js'
import {type ScramHash, scramMechanismName} from '../../sasl/scram.js'
import type {AccountStore} from '../../store/index.js'
import type {AuditFinding} from '../findings.js'
import type {Check} from './types.js'

/** Names shown in one finding; the rest are counted. */
const NAMED = 20

function nameList(names: string[], total: number): string {
  return names.slice(0, NAMED).join(', ') + (total > NAMED ? ` and ${total - NAMED} more` : '')
}

export const credentialsCheck: Check = {
  id: 'credentials',
  description: 'plaintext passwords at rest, accounts lacking a configured SCRAM hash',
  findings: ['password-format-plain', 'plaintext-accounts', 'scram-hash-missing'],
  async run(context) {
    const {config} = context
    const findings: AuditFinding[] = []
    let store: AccountStore | undefined
    try {
      store = await context.store()
    } catch (error) {
      // A PostgreSQL store out of reach or refused: sql-connection says why; the accounts go unchecked, not the audit.
      if (!(error instanceof XmppctlError)) throw error
      context.skip(`the accounts were not read: ${error.message}`)
    }

    for (const host of config.hosts) {
      const settings = config.forHost(host)
      const internal = settings.auth_method.includes('internal')
      if (settings.auth_password_format === 'plain' && internal) {
        findings.push({
          id: 'password-format-plain',
          severity: 'warning',
          subject: host,
          message: 'auth_password_format is plain: every password set from now on is stored as it was typed, readable by anyone who gets a copy of the store',
          fix: `set auth_password_format: scram${config.hostOverrides[host]?.auth_password_format ? ` under host_config.${host}` : ''}`,
        })
      }

      if (!store) continue
      const plaintext: string[] = []
      let plaintextCount = 0
      const lacking = new Map<ScramHash, string[]>()
      const lackingCount = new Map<ScramHash, number>()
      for await (const account of store.listAccounts(host)) {
        if (account.hasPlaintext) {
          plaintextCount++
          if (plaintext.length < NAMED) plaintext.push(account.username)
        }

        for (const hash of settings.auth_scram_hash) {
          if (account.hashes.includes(hash) || account.hasPlaintext) continue
          lackingCount.set(hash, (lackingCount.get(hash) ?? 0) + 1)
          const names = lacking.get(hash) ?? []
          if (names.length < NAMED) names.push(account.username)
          lacking.set(hash, names)
        }
      }

      if (plaintextCount > 0) {
        findings.push({
          id: 'plaintext-accounts',
          severity: settings.auth_password_format === 'plain' ? 'warning' : 'critical',
          subject: host,
          message: `${plaintextCount} account${plaintextCount === 1 ? ' holds its password' : 's hold their passwords'} in plaintext: ${nameList(plaintext, plaintextCount)}`,
          fix:
            settings.auth_password_format === 'plain'
              ? `set auth_password_format: scram, then give each account a new password ("xmppctl user passwd USER@${host}")`
              : `give each a new password ("xmppctl user passwd USER@${host}"): with auth_password_format scram only SCRAM credentials are stored`,
        })
      }

      for (const [hash, names] of lacking) {
        const count = lackingCount.get(hash) ?? names.length
        const mechanism = scramMechanismName(hash, false)
        findings.push({
          id: 'scram-hash-missing',
          severity: 'warning',
          subject: host,
          message: `${count} account${count === 1 ? ' lacks' : 's lack'} ${mechanism} credentials (auth_scram_hash lists ${hash}), so ${mechanism} is offered to no one on ${host}: ${nameList(names, count)}`,
          fix: `have them set a new password ("xmppctl user passwd USER@${host}"), which stores every listed hash; or remove ${hash} from auth_scram_hash`,
        })
      }
    }

    return findings
  },
}
