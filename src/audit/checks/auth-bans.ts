/**
 * Failed-login bans of the running server (ejabberd's mod_fail2ban, our
 * c2s_max_auth_failures): asked over the control socket, as `xmppctl status`
 * asks. A ban is the throttle doing its work, so alone it is information; it
 * is a warning when many addresses are banned at once (a guessing campaign
 * from many hosts, or the site's own users behind shared addresses), when
 * the configuration exempts a banned address (the server runs with an older
 * configuration), and when an account is guessed at from so many addresses
 * that only those it logged in from before may still try. A server that does
 * not run has no bans: the check says it did not look.
 */
import type {ServerStatus} from '../../server/server.js'
import {isExempt, networks} from '../../server/throttle.js'
import type {AuditFinding} from '../findings.js'
import type {AuditContext, Check} from './types.js'

/** Banned addresses at once from which the bans are a warning. */
export const MANY_BANS = 10

/** The most bans `status` reports (server.ts). */
const REPORTED_BANS = 50

const EXEMPT_FIX = 'if they are your own users (behind a NAT or a proxy, or a load test), add their network to c2s_auth_ban_exempt or raise c2s_max_auth_failures, then run "xmppctl reload": the ban is lifted'

export function banFindings(status: Pick<ServerStatus, 'bans' | 'restrictedAccounts'>, context: Pick<AuditContext, 'config'>): AuditFinding[] {
  const {settings} = context.config
  const exempt = networks(settings.c2s_auth_ban_exempt)
  const findings: AuditFinding[] = []
  for (const {address, failures, until} of status.bans) {
    if (isExempt(exempt, address)) {
      findings.push({
        id: 'auth-ban-exempt',
        severity: 'warning',
        subject: address,
        message: `refused after ${failures} failed logins until ${until}, although c2s_auth_ban_exempt exempts it: the server runs with an older configuration`,
        fix: 'run "xmppctl reload": the ban is lifted',
      })
      continue
    }

    findings.push({
      id: 'auth-ban',
      severity: 'info',
      subject: address,
      message: `refused after ${failures} failed logins within c2s_auth_ban_lifetime (${settings.c2s_auth_ban_lifetime} s), until ${until}`,
      fix: `nothing, if these were guesses; ${EXEMPT_FIX}`,
    })
  }

  if (status.bans.length >= MANY_BANS) {
    findings.push({
      id: 'auth-bans-many',
      severity: 'warning',
      subject: 'c2s_max_auth_failures',
      message: `${status.bans.length}${status.bans.length >= REPORTED_BANS ? ' or more' : ''} addresses are refused for failed logins at once: guessing from many hosts, or your own users behind shared addresses`,
      fix: `look in the server log for the accounts they tried; ${EXEMPT_FIX}`,
    })
  }

  for (const {account, failures, until} of status.restrictedAccounts) {
    findings.push({
      id: 'auth-account-restricted',
      severity: 'warning',
      subject: account,
      message: `${failures} failed logins from many addresses: until ${until}, only addresses it logged in from before may try`,
      fix: `tell its owner, who can still log in from a known address; give it a strong password ("xmppctl user passwd ${account}")`,
    })
  }

  return findings
}

export const authBansCheck: Check = {
  id: 'auth-bans',
  description: 'the running server\'s failed-login bans',
  findings: ['auth-ban', 'auth-ban-exempt', 'auth-bans-many', 'auth-account-restricted'],
  async run(context) {
    const status = await context.server()
    if ('notRunning' in status) {
      context.skip(status.notRunning)
      return []
    }

    return banFindings(status, context)
  },
}
