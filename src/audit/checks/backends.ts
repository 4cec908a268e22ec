/**
 * Files the auth backends trust: the external auth program (whoever can
 * change it decides who logs in), the JWT key (whoever reads a secret one
 * can mint tokens), and the saslauthd socket (the server user must reach it).
 */
import {readFileSync} from 'node:fs'
import path from 'node:path'

import {inspectKeytab} from '../../auth/gssapi/keytab.js'
import type {AuditFinding} from '../findings.js'
import {allows, ancestors, blockingDirectory, groupName, lstatOrUndefined, octal, statOrUndefined, userName} from '../../system.js'
import type {AuditContext, Check} from './types.js'

/** Whether a `jwt_key` file holds something that signs tokens: a private key, or a symmetric (`oct`) JWK. */
export function holdsSigningSecret(text: string): boolean {
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)) return true
  try {
    const json = JSON.parse(text) as {keys?: unknown[]} & Record<string, unknown>
    const keys = Array.isArray(json.keys) ? json.keys : [json]
    return keys.some((key) => key && typeof key === 'object' && ('d' in key || (key as {kty?: string}).kty === 'oct'))
  } catch {
    return false
  }
}

/** Per distinct file, the hosts that use it (`method` undefined: every host that sets the key). */
function filesFor(
  context: AuditContext,
  method: 'external' | 'jwt' | 'saslauthd' | 'ldap' | undefined,
  key: 'extauth_program' | 'jwt_key' | 'saslauthd_socket' | 'ldap_password_file' | 'gssapi_keytab',
): Map<string, string[]> {
  const files = new Map<string, string[]>()
  const base = context.config.file ? path.dirname(context.config.file) : process.cwd()
  for (const host of context.config.hosts) {
    const settings = context.config.forHost(host)
    const value = settings[key]
    if ((method !== undefined && !settings.auth_method.includes(method)) || !value) continue
    const file = path.resolve(base, value)
    files.set(file, [...(files.get(file) ?? []), host])
  }

  return files
}

function extauthFindings(program: string, hosts: string[], context: AuditContext): AuditFinding[] {
  const {user} = context
  const stats = statOrUndefined(program)
  const used = `used by ${hosts.join(', ')}`
  if (!stats) return [{id: 'extauth-missing', severity: 'critical', subject: program, message: `extauth_program does not exist (${used}): every login through it fails`, fix: 'install the program or fix extauth_program'}]
  const findings: AuditFinding[] = []
  if ((stats.mode & 0o022) !== 0) {
    const target = stats.mode & ~0o022 & 0o7777
    findings.push({
      id: 'extauth-writable',
      severity: 'critical',
      subject: program,
      message: `the external auth program (${used}) has mode ${octal(stats.mode)}: ${stats.mode & 0o002 ? 'any user' : `group ${groupName(stats.gid)}`} can change it and so decide who logs in`,
      fix: `chmod ${octal(target)} ${program}`,
      repair: {kind: 'chmod', path: program, mode: target},
    })
  }

  if (stats.uid !== 0 && stats.uid !== user.uid) {
    findings.push({id: 'extauth-owner', severity: 'warning', subject: program, message: `the external auth program belongs to ${userName(stats.uid)}, who can change it`, fix: `chown root: ${program}`})
  }

  for (const dir of ancestors(program)) {
    const dirStats = lstatOrUndefined(dir)
    if (dirStats && (dirStats.mode & 0o022) !== 0 && (dirStats.mode & 0o1000) === 0) {
      findings.push({
        id: 'extauth-writable',
        severity: 'critical',
        subject: dir,
        message: `a directory above the external auth program ${program} has mode ${octal(dirStats.mode)}: ${dirStats.mode & 0o002 ? 'any user' : `group ${groupName(dirStats.gid)}`} can replace the program`,
        fix: `chmod go-w ${dir}, or install the program elsewhere`,
      })
    }
  }

  if (!allows(user, stats, 'x') || blockingDirectory(user, program)) {
    findings.push({id: 'extauth-not-executable', severity: 'critical', subject: program, message: `${user.name}, the user the server runs as, cannot run the external auth program (mode ${octal(stats.mode)})`, fix: `chmod 755 ${program}, and make the directories above it searchable`})
  }

  return findings
}

function jwtFindings(file: string, hosts: string[], context: AuditContext): AuditFinding[] {
  const {user} = context
  const stats = statOrUndefined(file)
  if (!stats) return [{id: 'jwt-key-missing', severity: 'critical', subject: file, message: `jwt_key does not exist (used by ${hosts.join(', ')}): every token is refused`, fix: 'put the key there or fix jwt_key'}]
  const findings: AuditFinding[] = []
  let text = ''
  try {
    text = readFileSync(file, 'utf8')
  } catch {}

  if ((stats.mode & 0o044) !== 0 && holdsSigningSecret(text)) {
    const world = (stats.mode & 0o004) !== 0
    const target = stats.mode & ~(world ? 0o007 : 0o077) & 0o7777
    findings.push({
      id: 'jwt-key-readable',
      severity: world ? 'critical' : 'warning',
      subject: file,
      message: `jwt_key holds a signing secret and has mode ${octal(stats.mode)}: ${world ? 'every user on this machine' : `group ${groupName(stats.gid)}`} can read it and mint tokens for any account`,
      fix: `chmod ${octal(target)} ${file}; the server needs only the public key to verify tokens, so keep the private one elsewhere`,
      repair: {kind: 'chmod', path: file, mode: target},
    })
  }

  if (!allows(user, stats, 'r') || blockingDirectory(user, file)) {
    findings.push({id: 'jwt-key-unreadable', severity: 'critical', subject: file, message: `${user.name}, the user the server runs as, cannot read jwt_key (mode ${octal(stats.mode)}, owner ${userName(stats.uid)})`, fix: `chown ${user.name}: ${file}`})
  }

  return findings
}

/**
 * A secret the server reads: the Kerberos keytab (whoever reads it can pose as
 * the server to every client, RFC 4120 §5.5.1) or the LDAP service password.
 * Only the server's user may read it; it must be able to.
 */
function secretFileFindings(file: string, hosts: string[], context: AuditContext, what: {key: string; id: string; risk: string; ownerOnly?: boolean}): AuditFinding[] {
  const {user} = context
  const stats = statOrUndefined(file)
  if (!stats) return [{id: `${what.id}-missing`, severity: 'warning', subject: file, message: `${what.key} does not exist (set for ${hosts.join(', ')})`, fix: `create it, or fix ${what.key}`}]
  const findings: AuditFinding[] = []
  // Group-readable is how the server's group is given the file (root:xmpp 0640); every user is not.
  // A password file (ownerOnly) is refused by its reader (config/secret-file.ts) unless only its owner may read it.
  if (what.ownerOnly && (stats.mode & 0o077) !== 0) {
    const target = stats.mode & ~0o077 & 0o7777
    findings.push({
      id: `${what.id}-readable`,
      severity: 'critical',
      subject: file,
      message: `${what.key} has mode ${octal(stats.mode)} (${userName(stats.uid)}:${groupName(stats.gid)}): users other than its owner can read it, and the server refuses it`,
      fix: `chmod ${octal(target)} ${file}`,
      repair: {kind: 'chmod', path: file, mode: target},
    })
  } else if ((stats.mode & 0o004) !== 0) {
    const target = stats.mode & ~0o007 & 0o7777
    findings.push({
      id: `${what.id}-readable`,
      severity: 'critical',
      subject: file,
      message: `${what.key} has mode ${octal(stats.mode)} (${userName(stats.uid)}:${groupName(stats.gid)}): every user on this machine can read it and ${what.risk}`,
      fix: `chmod ${octal(target)} ${file}`,
      repair: {kind: 'chmod', path: file, mode: target},
    })
  }

  if (stats.uid !== 0 && stats.uid !== user.uid) {
    findings.push({id: `${what.id}-owner`, severity: 'warning', subject: file, message: `${what.key} belongs to ${userName(stats.uid)}, who is not the server's user (${user.name}) and can read or replace it`, fix: `chown ${user.name} ${file}`})
  }

  if (!allows(user, stats, 'r') || blockingDirectory(user, file)) {
    const viaGroup = (stats.mode & 0o040) !== 0 && stats.gid !== 0
    findings.push({
      id: `${what.id}-unreadable`,
      severity: 'critical',
      subject: file,
      message: `${user.name}, the user the server runs as, cannot read ${what.key} (${octal(stats.mode)} ${userName(stats.uid)}:${groupName(stats.gid)})`,
      fix: viaGroup ? `add ${user.name} to group ${groupName(stats.gid)} (usermod -aG ${groupName(stats.gid)} ${user.name}) and restart the server` : `chown ${user.name} ${file} && chmod 600 ${file}`,
    })
  }

  return findings
}

function saslauthdFindings(socket: string, hosts: string[], context: AuditContext): AuditFinding[] {
  const {user} = context
  const blocked = blockingDirectory(user, socket)
  const dirStats = blocked ? statOrUndefined(blocked) : undefined
  if (blocked && dirStats) {
    return [{
      id: 'saslauthd-unreachable',
      severity: 'critical',
      subject: socket,
      message: `${user.name}, the user the server runs as, cannot reach the saslauthd socket: ${blocked} is ${octal(dirStats.mode)} ${userName(dirStats.uid)}:${groupName(dirStats.gid)} (used by ${hosts.join(', ')})`,
      fix: `add ${user.name} to group ${groupName(dirStats.gid)} (usermod -aG ${groupName(dirStats.gid)} ${user.name}) and restart the server`,
    }]
  }

  const stats = lstatOrUndefined(socket)
  if (!stats) return [{id: 'saslauthd-socket-missing', severity: 'warning', subject: socket, message: `no saslauthd socket here (used by ${hosts.join(', ')}): saslauthd is not running, or listens elsewhere`, fix: 'start saslauthd, or set saslauthd_socket to its mux socket (saslauthd -m DIR puts it in DIR/mux)'}]
  if (!stats.isSocket()) return [{id: 'saslauthd-socket-missing', severity: 'warning', subject: socket, message: 'saslauthd_socket is not a socket', fix: 'set saslauthd_socket to saslauthd\'s mux socket'}]
  if (!allows(user, stats, 'w')) {
    return [{id: 'saslauthd-unreachable', severity: 'critical', subject: socket, message: `${user.name} cannot connect to the saslauthd socket (mode ${octal(stats.mode)} ${userName(stats.uid)}:${groupName(stats.gid)})`, fix: `add ${user.name} to group ${groupName(stats.gid)}`}]
  }

  return []
}

/**
 * What the keytab holds, as the server's offer reads it (src/auth/gssapi/keytab.ts): the
 * principal of each host, with an AES or Camellia key. Without them the server does not
 * offer GSSAPI. File access is secretFileFindings' part.
 */
async function keytabContentFindings(file: string, hosts: string[], context: AuditContext): Promise<AuditFinding[]> {
  const findings: AuditFinding[] = []
  for (const host of hosts) {
    const settings = context.config.forHost(host)
    const verdict = await inspectKeytab({keytab: file, service: settings.gssapi_service_name, host, realm: settings.gssapi_realm, user: context.user, strict: false})
    if (verdict.ok || verdict.step === 'keytab') continue
    const id = verdict.step === 'enctype' ? 'gssapi-keytab-weak' : 'gssapi-keytab-principal'
    const offered = settings.auth_method.includes('gssapi') ? 'the server does not offer GSSAPI' : 'the server could not offer GSSAPI'
    findings.push({id, severity: settings.auth_method.includes('gssapi') ? 'critical' : 'warning', subject: file, message: `gssapi_keytab for ${host}: ${verdict.detail}: ${offered}${verdict.cause ? ` (${verdict.cause})` : ''}`, fix: verdict.fix})
  }

  return findings
}

export const backendsCheck: Check = {
  id: 'auth-backends',
  description: 'extauth_program writable by others, jwt_key secrets, the Kerberos keytab and the LDAP password file readable by others or not by the server, saslauthd socket out of the server user\'s reach',
  findings: [
    'extauth-missing',
    'extauth-writable',
    'extauth-owner',
    'extauth-not-executable',
    'jwt-key-missing',
    'jwt-key-readable',
    'jwt-key-unreadable',
    'saslauthd-unreachable',
    'saslauthd-socket-missing',
    'gssapi-keytab-missing',
    'gssapi-keytab-readable',
    'gssapi-keytab-owner',
    'gssapi-keytab-unreadable',
    'gssapi-keytab-principal',
    'gssapi-keytab-weak',
    'ldap-password-file-missing',
    'ldap-password-file-readable',
    'ldap-password-file-owner',
    'ldap-password-file-unreadable',
  ],
  async run(context) {
    const findings: AuditFinding[] = []
    for (const [program, hosts] of filesFor(context, 'external', 'extauth_program')) findings.push(...extauthFindings(program, hosts, context))
    for (const [file, hosts] of filesFor(context, 'jwt', 'jwt_key')) findings.push(...jwtFindings(file, hosts, context))
    for (const [socket, hosts] of filesFor(context, 'saslauthd', 'saslauthd_socket')) findings.push(...saslauthdFindings(socket, hosts, context))
    for (const [file, hosts] of filesFor(context, undefined, 'gssapi_keytab')) {
      findings.push(...secretFileFindings(file, hosts, context, {key: 'gssapi_keytab', id: 'gssapi-keytab', risk: 'pose as the XMPP server to every Kerberos client'}))
      findings.push(...(await keytabContentFindings(file, hosts, context)))
    }

    for (const [file, hosts] of filesFor(context, 'ldap', 'ldap_password_file')) {
      findings.push(...secretFileFindings(file, hosts, context, {key: 'ldap_password_file', id: 'ldap-password-file', risk: 'search the directory as the service account', ownerOnly: true}))
    }
    return findings
  },
}
