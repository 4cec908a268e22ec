/**
 * `test-auth ldap`: each step of a bind-as-user check against the first of
 * ldap_servers, timed, with a diagnosis per known failure: the server
 * unreachable, TLS refused or untrusted, wrong service credentials, a base DN
 * that does not exist, a filter matching no entry or several, the user's bind
 * refused, a timeout. The steps are the backend's own (src/auth/backends/ldap.ts).
 */
import {connect as tcpConnect} from 'node:net'
import {connect as tlsConnect} from 'node:tls'

import type {Client} from 'ldapts'

import {ConfigError} from '../../errors.js'
import {
  DEREF,
  LDAP_RESULT,
  LdapBackend,
  type LdapOptions,
  describeLdapError,
  dnFilterFor,
  filterEscape,
  ldapOptions,
  openClient,
  resultCode,
  serverUrl,
  servicePassword,
  tlsOptions,
  userFilter,
} from '../backends/ldap.js'
import {type BackendDiagnosis, Recorder, type StepResult, fail, info, ok, skip, warn} from './report.js'
import type {DiagnoseInput} from './types.js'

type Verdict = Parameters<Recorder['finish']>[2]

/** Errors of Node's TLS that mean the certificate did not verify (as opposed to a refused handshake). */
const UNTRUSTED = /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ALTNAME|ISSUER|EXPIRED|NOT_YET_VALID/

function isTimeout(error: unknown): boolean {
  const text = `${(error as {code?: unknown})?.code ?? ''} ${error instanceof Error ? `${error.name} ${error.message}` : ''}`
  return /timeout|timed out|ETIMEDOUT/i.test(text)
}

function tcpProbe(server: string, port: number, timeout: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect({host: server, port})
    const timer = setTimeout(() => {
      socket.destroy()
      reject(Object.assign(new Error(`no answer within ${timeout / 1000} s`), {code: 'ETIMEDOUT'}))
    }, timeout)
    socket.once('connect', () => {
      clearTimeout(timer)
      socket.destroy()
      resolve()
    })
    socket.once('error', (error) => {
      clearTimeout(timer)
      reject(error)
    })
  })
}

/** LDAPS: the handshake and the certificate as Node sees them, verified or not. */
function tlsProbe(options: LdapOptions, server: string): Promise<{protocol: string; subject: string; issuer: string; authorized: boolean; error?: string}> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({host: server, port: options.port, ...tlsOptions(options, server), rejectUnauthorized: false})
    const timer = setTimeout(() => {
      socket.destroy()
      reject(Object.assign(new Error(`no TLS handshake within ${options.connectTimeout / 1000} s`), {code: 'ETIMEDOUT'}))
    }, options.connectTimeout)
    socket.once('secureConnect', () => {
      clearTimeout(timer)
      const certificate = socket.getPeerCertificate()
      const authorizationError = socket.authorizationError ? String((socket.authorizationError as unknown as {code?: string}).code ?? socket.authorizationError) : undefined
      resolve({
        protocol: socket.getProtocol() ?? 'TLS',
        subject: [certificate?.subject?.CN ?? '(no subject CN)'].flat().join(', '),
        issuer: [certificate?.issuer?.CN ?? '(no issuer CN)'].flat().join(', '),
        authorized: socket.authorized,
        ...(authorizationError ? {error: authorizationError} : {}),
      })
      socket.destroy()
    })
    socket.once('error', (error) => {
      clearTimeout(timer)
      reject(error)
    })
  })
}

function tlsFix(options: LdapOptions): string {
  return options.caFile ? `check that ${options.caFile} holds the CA that signed the LDAP server's certificate` : 'set ldap_tls_cacertfile to the CA that signed the LDAP server\'s certificate'
}

export async function diagnoseLdap(input: DiagnoseInput): Promise<BackendDiagnosis> {
  const settings = input.config.forHost(input.host)
  const recorder = new Recorder()
  const jid = input.username === undefined ? undefined : `${input.username}@${settings.host}`
  const finish = (verdict: Verdict) => recorder.finish('ldap', settings.host, verdict, jid)
  const options = ldapOptions(settings, input.baseDir)
  const server = options.servers[0]
  const url = serverUrl(options, server)

  const configured = recorder.add(
    'configuration',
    'configuration',
    options.base
      ? ok(`${url} (${options.servers.length > 1 ? `then ${options.servers.slice(1).join(', ')}; ` : ''}ldap_encrypt ${options.encrypt}, ldap_tls_verify ${options.tlsVerify}), ldap_base ${options.base}, ldap_rootdn ${options.rootDn || '(anonymous)'}, ldap_pool_size ${options.poolSize}`)
      : fail('ldap_base is not set', 'the backend cannot search for users', 'set ldap_base to the DN under which the users are, e.g. ou=people,dc=example,dc=org'),
  )
  if (configured.status === 'fail') return finish('misconfigured')
  if (options.encrypt === 'none') {
    recorder.add('encryption', 'encryption', warn(`ldap_encrypt is none: users' passwords cross the network to ${server} in clear`, undefined, 'set ldap_encrypt to starttls or tls'))
  } else if (options.tlsVerify !== 'hard') {
    recorder.add('encryption', 'encryption', warn(`ldap_tls_verify is ${options.tlsVerify}: any certificate is accepted, so an attacker on the path can read the passwords`, undefined, 'set ldap_tls_verify: hard and ldap_tls_cacertfile'))
  }

  let password: string
  try {
    password = servicePassword(options)
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    recorder.add('service-password', 'service password', fail(error.message, undefined, error.hint))
    return finish('misconfigured')
  }

  // 1. TCP.
  const reached = await recorder.step('connect', `connect to ${server}:${options.port}`, async () => {
    try {
      await tcpProbe(server, options.port, options.connectTimeout)
      return ok(`${server}:${options.port} accepted the connection`)
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      if (code === 'ECONNREFUSED') return fail(`${url}: connection refused`, `nothing listens on ${server} port ${options.port}`, 'start the LDAP server, or correct ldap_servers and ldap_port')
      if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return fail(`${server} does not resolve (${code})`, 'the name in ldap_servers is wrong or DNS fails', 'correct ldap_servers')
      if (code === 'ETIMEDOUT') return fail(`${url}: ${describeLdapError(error)}`, 'a firewall drops the packets, or the host is down', 'check the address and the firewall between this host and the LDAP server')
      return fail(`${url}: ${describeLdapError(error)}`, 'the LDAP server is unreachable', 'check ldap_servers and ldap_port')
    }
  })
  if (reached.status === 'fail') return finish('unavailable')

  // 2. TLS and the certificate (LDAPS: probed directly, so the certificate can be described).
  if (options.encrypt === 'tls') {
    const secured = await recorder.step('tls', 'TLS and certificate', async () => {
      try {
        const probe = await tlsProbe(options, server)
        const detail = `${probe.protocol}, certificate of ${probe.subject} issued by ${probe.issuer}`
        if (probe.authorized) return ok(`${detail}: verified`)
        if (options.tlsVerify === 'hard') return fail(`${detail}: not trusted (${probe.error})`, 'the certificate does not verify against the CAs given', tlsFix(options))
        return warn(`${detail}: not trusted (${probe.error}), accepted because ldap_tls_verify is ${options.tlsVerify}`)
      } catch (error) {
        if (isTimeout(error)) return fail(`${url}: ${describeLdapError(error)}`, 'the port answers but speaks no TLS: is it plain LDAP (389)?', 'use ldap_encrypt: starttls on a plain LDAP port, or the LDAPS port (636)')
        return fail(`${url}: the TLS handshake failed: ${describeLdapError(error)}`, 'the port does not speak TLS, or refuses our TLS versions (TLS 1.2 at least)', 'use the LDAPS port with ldap_encrypt: tls, or ldap_encrypt: starttls on port 389')
      }
    })
    if (secured.status === 'fail') return finish('unavailable')
  }

  let client: Client | undefined
  const opened = await recorder.step('open', options.encrypt === 'starttls' ? 'StartTLS and certificate' : 'LDAP session', async () => {
    try {
      client = await openClient(options, server)
      return ok(options.encrypt === 'starttls' ? `StartTLS done, certificate ${options.tlsVerify === 'hard' ? 'verified' : 'not checked (ldap_tls_verify)'}` : `${url} opened`)
    } catch (error) {
      const text = describeLdapError(error)
      if (isTimeout(error)) return fail(`${url}: ${text}`, `the server gave no answer within ldap_connect_timeout (${options.connectTimeout / 1000} s)`, 'check that the port is an LDAP server\'s and that it is not overloaded')
      if (options.encrypt === 'starttls' && UNTRUSTED.test(text)) return fail(`${url}: StartTLS: the certificate is not trusted (${text})`, 'the certificate does not verify against the CAs given', tlsFix(options))
      if (options.encrypt === 'starttls') {
        return fail(`${url}: StartTLS refused: ${text}`, 'the LDAP server does not offer StartTLS (no TLS certificate configured on it?)', 'configure TLS on the LDAP server (olcTLSCertificateFile), or use ldap_encrypt: tls on its LDAPS port')
      }

      return fail(`${url}: ${text}`, 'the LDAP session could not be opened', 'check ldap_servers, ldap_port and ldap_encrypt')
    }
  })
  if (opened.status === 'fail' || !client) return finish('unavailable')
  const session = client

  try {
    return await diagnoseSession(recorder, options, session, password, input, finish)
  } finally {
    await session.unbind().catch(() => {})
  }
}

async function diagnoseSession(
  recorder: Recorder,
  options: LdapOptions,
  client: Client,
  password: string,
  input: DiagnoseInput,
  finish: (verdict: Verdict) => BackendDiagnosis,
): Promise<BackendDiagnosis> {
  const timeoutFail = (what: string, error: unknown): StepResult =>
    fail(`${what}: ${describeLdapError(error)}`, `the LDAP server did not answer within ldap_timeout (${options.timeout / 1000} s)`, 'check the LDAP server\'s load, or raise ldap_timeout')

  // 3. The service bind.
  const bound = await recorder.step('service-bind', 'service bind', async () => {
    if (!options.rootDn) {
      return info('ldap_rootdn is empty: users are searched anonymously')
    }

    try {
      await client.bind(options.rootDn, password)
      return ok(`bound as ${options.rootDn}`)
    } catch (error) {
      if (isTimeout(error)) return timeoutFail(`bind as ${options.rootDn}`, error)
      if (resultCode(error) === LDAP_RESULT.invalidCredentials) {
        return fail(`bind as ${options.rootDn}: invalid credentials (49)`, 'wrong service credentials: the DN does not exist or the password is not its password', `correct ldap_rootdn and ${options.password && 'file' in options.password ? 'the password in ldap_password_file' : 'ldap_password'}`)
      }

      if (resultCode(error) === LDAP_RESULT.confidentialityRequired || resultCode(error) === LDAP_RESULT.unwillingToPerform) {
        return fail(`bind as ${options.rootDn}: ${describeLdapError(error)}`, 'the LDAP server refuses a password bind on this connection', 'set ldap_encrypt to starttls or tls')
      }

      return fail(`bind as ${options.rootDn}: ${describeLdapError(error)}`, undefined, 'check ldap_rootdn')
    }
  })
  if (bound.status === 'fail') return finish('unavailable')

  // 4. The base DN.
  const based = await recorder.step('base', 'base DN', async () => {
    try {
      await client.search(options.base, {scope: 'base', filter: '(objectClass=*)', attributes: ['1.1']})
      return ok(`${options.base} exists`)
    } catch (error) {
      if (isTimeout(error)) return timeoutFail(`read ${options.base}`, error)
      if (resultCode(error) === LDAP_RESULT.noSuchObject) {
        return fail(`${options.base}: no such object (32)`, 'the base DN does not exist on this server (or the service account may not see it)', 'correct ldap_base (ldapsearch -b "" -s base namingContexts lists the server\'s suffixes)')
      }

      return fail(`read ${options.base}: ${describeLdapError(error)}`, undefined, 'check ldap_base')
    }
  })
  if (based.status === 'fail') return finish('misconfigured')

  const username = input.username ?? 'xmppctl-probe-nonexistent'
  const escape = await filterEscape()
  const filter = userFilter(options, username, escape)
  // 5. The user's entry.
  let dn: string | undefined
  let attributes: Record<string, string[]> = {}
  const searched = await recorder.step('search', input.username === undefined ? 'search (probe user)' : 'search', async () => {
    try {
      const {searchEntries} = await client.search(options.base, {
        scope: 'sub',
        filter,
        attributes: options.dnFilter?.attributes.length ? options.dnFilter.attributes : ['1.1'],
        derefAliases: DEREF[options.derefAliases],
        sizeLimit: 10,
      })
      if (input.username === undefined) return ok(`the filter ${filter} works (${searchEntries.length} entries for the probe name)`)
      if (searchEntries.length === 0) {
        return fail(
          `${filter} under ${options.base} matches no entry`,
          `no entry has ${options.uids.map(({attribute}) => attribute).join(' or ')} = ${username}${options.filter ? ` and matches ldap_filter ${options.filter}` : ''}`,
          'check ldap_uids (the attribute that holds the user name), ldap_filter and ldap_base',
        )
      }

      if (searchEntries.length > 1) {
        return fail(
          `${filter} under ${options.base} matches ${searchEntries.length} entries: ${searchEntries.map((entry) => entry.dn).join('; ')}`,
          'the user name is ambiguous: a login could be any of these entries',
          'narrow ldap_base or ldap_filter so that one entry matches (or make the attribute unique)',
        )
      }

      dn = searchEntries[0].dn
      attributes = Object.fromEntries(Object.entries(searchEntries[0]).filter(([name]) => name !== 'dn').map(([name, value]) => [name, (Array.isArray(value) ? value : [value]).map(String)]))
      return ok(`${filter} found ${dn}`)
    } catch (error) {
      if (isTimeout(error)) return timeoutFail(`search ${filter}`, error)
      if (resultCode(error) === LDAP_RESULT.sizeLimitExceeded) return fail(`${filter} matches more than 10 entries`, 'the user name is ambiguous', 'narrow ldap_base or ldap_filter')
      return fail(`search ${filter}: ${describeLdapError(error)}`, 'the filter is invalid or the server refused the search', 'check ldap_uids and ldap_filter (RFC 4515 syntax)')
    }
  })
  if (input.username === undefined) return finish(searched.status === 'fail' ? 'misconfigured' : 'reachable')
  if (searched.status === 'fail' || dn === undefined) return finish('rejected')

  const dnFilter = dnFilterFor(options, username, dn, attributes, escape)
  if (dnFilter !== undefined) {
    const passed = await recorder.step('dn-filter', 'ldap_dn_filter', async () => {
      const {searchEntries} = await client.search(options.base, {scope: 'sub', filter: dnFilter, attributes: ['1.1'], sizeLimit: 1, derefAliases: DEREF[options.derefAliases]}).catch((error: unknown) => {
        if (resultCode(error) === LDAP_RESULT.sizeLimitExceeded) return {searchEntries: [{dn}]}
        throw error
      })
      return searchEntries.length > 0 ? ok(`${dnFilter} matches`) : fail(`${dnFilter} matches no entry`, 'ldap_dn_filter refuses this user', 'check ldap_dn_filter')
    })
    if (passed.status === 'fail') return finish('rejected')
  }

  // 6. The user's bind.
  if (input.password === undefined) {
    recorder.add('user-bind', 'user bind', skip('no password given'))
    return finish('reachable')
  }

  let verdict = 'rejected' as Verdict
  await recorder.step('user-bind', `bind as ${dn}`, async () => {
    if (input.password === '') return fail('the password is empty', 'an empty password would be an unauthenticated bind (RFC 4513 §5.1.2), which the backend never attempts')
    try {
      await client.bind(dn!, input.password!)
      verdict = 'accepted'
      return ok('the LDAP server accepted the password')
    } catch (error) {
      if (isTimeout(error)) {
        verdict = 'unavailable'
        return timeoutFail(`bind as ${dn}`, error)
      }

      if (resultCode(error) === LDAP_RESULT.invalidCredentials) return fail(`bind as ${dn}: invalid credentials (49)`, 'the user\'s bind was refused: the password is wrong, or the account is locked by a password policy')
      return fail(`bind as ${dn}: ${describeLdapError(error)}`, 'the user\'s bind was refused')
    }
  })

  // The same check through the backend itself, as the server makes it.
  if (verdict === 'accepted') {
    const backend = new LdapBackend({...options, poolSize: 1})
    try {
      await recorder.step('backend', 'backend check', async () => {
        const outcome = await backend.checkPassword(username, input.password!)
        return outcome.result === 'accepted' ? ok('the ldap backend accepts the password too') : fail(`the ldap backend answered ${outcome.result}: ${'reason' in outcome ? outcome.reason : ''}`)
      })
    } finally {
      await backend.close()
    }
  }

  return finish(verdict)
}
