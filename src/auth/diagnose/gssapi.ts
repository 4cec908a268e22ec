/**
 * `test-auth gssapi`: whether Kerberos single sign-on can work for a host:
 * the keytab (present, readable by the server's user, holding
 * gssapi_service_name/HOST@REALM with a usable encryption type), the KDC
 * (reachable, clocks in agreement: an AS exchange with the keytab's key), and,
 * given a client credential cache or a password, a full SASL GSSAPI
 * exchange: the server's own mechanism and acceptor, the `kerberos` binding
 * (MIT libgssapi_krb5) as the client.
 *
 * Reading the keytab and asking the KDC is done by MIT's own klist and kinit:
 * nothing of Kerberos is reimplemented here.
 */
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {normalizeLocalpart} from '../../jid/index.js'
import {GSSAPI} from '../../sasl/mechanisms/gssapi.js'
import type {MechanismContext} from '../../sasl/mechanisms/types.js'
import type {SaslSession} from '../../sasl/session.js'
import {type SystemUser, currentUser} from '../../system.js'
import {GssapiBackend, gssapiOptions} from '../backends/gssapi.js'
import {silentAuthLog} from '../chain.js'
import {type KeytabEntry, inspectKeytab, run} from '../gssapi/keytab.js'
import {type BackendDiagnosis, Recorder, type StepResult, fail, info, ok, skip, warn} from './report.js'
import type {DiagnoseInput} from './types.js'

type Verdict = Parameters<Recorder['finish']>[2]

export interface GssapiInput extends DiagnoseInput {
  /** The user the server runs as (`--as`); default: this process's. */
  as?: SystemUser
  /** A client credential cache (FILE:…) for the full exchange. */
  ccache?: string
}

export {parseKeytabListing} from '../gssapi/keytab.js'

/** The cause and fix of a kinit failure, from MIT's messages. */
export function kinitDiagnosis(stderr: string, context: {principal: string; keytab: string}): StepResult {
  const text = stderr.trim().replace(/^kinit: /, '')
  if (/Cannot contact any KDC|Cannot resolve network address|unable to reach any KDC/i.test(text)) {
    return fail(text, 'the KDC of the realm is unreachable', 'check the realm\'s kdc lines in krb5.conf (or its DNS SRV records) and the firewall (port 88)')
  }

  if (/Clock skew too great/i.test(text)) return fail(text, 'this machine\'s clock and the KDC\'s differ by more than the allowed skew (5 minutes by default)', 'synchronise the clocks (chrony or systemd-timesyncd on both)')
  if (/not found in Kerberos database|Client .* not found/i.test(text)) {
    return fail(text, `the KDC does not know ${context.principal}`, `create it: kadmin -q "addprinc -randkey ${context.principal}" and "ktadd -k ${context.keytab} ${context.principal}"`)
  }

  if (/Preauthentication failed|Password incorrect|Key version|Decrypt integrity check failed|bad key/i.test(text)) {
    return fail(text, `the keytab's key for ${context.principal} is not the KDC's (the key was changed since the keytab was written)`, `export the key again: kadmin -q "ktadd -k ${context.keytab} ${context.principal}"`)
  }

  if (/enctype|encryption type/i.test(text)) return fail(text, 'no encryption type in common with the KDC', 'export an AES key: kadmin -q "ktadd -e aes256-cts-hmac-sha1-96:normal …"')
  return fail(text || 'kinit failed', undefined, 'run kinit -V -k -t KEYTAB PRINCIPAL for details')
}

export async function diagnoseGssapi(input: GssapiInput): Promise<BackendDiagnosis> {
  const settings = input.config.forHost(input.host)
  const recorder = new Recorder()
  const jid = input.username === undefined ? undefined : `${input.username}@${settings.host}`
  const finish = (verdict: Verdict) => recorder.finish('gssapi', settings.host, verdict, jid)
  const user = input.as ?? currentUser()
  const service = settings.gssapi_service_name
  const keytab = settings.gssapi_keytab === undefined ? '/etc/krb5.keytab' : path.resolve(input.baseDir, settings.gssapi_keytab)
  const wanted = `${service}/${settings.host}`
  recorder.add('configuration', 'configuration', ok(`gssapi_keytab ${keytab}, principal ${wanted}@${settings.gssapi_realm ?? '(default realm)'}, the server runs as ${user.name}`))

  // 1 and 2. The keytab (there, readable by the server's user), the principal and its encryption types:
  // the questions the server's offer asks (src/auth/gssapi/keytab.ts).
  const verdict = await inspectKeytab({keytab, service, host: settings.host, realm: settings.gssapi_realm, user, strict: false})
  const listed = (entries: KeytabEntry[]) => `${keytab} holds ${[...new Set(entries.map(({principal}) => principal))].join(', ')} (kvno ${[...new Set(entries.map(({kvno}) => kvno))].join(', ')})`
  if (!verdict.ok) {
    if (verdict.step !== 'keytab') recorder.add('keytab', 'keytab', ok(`${keytab} is ${verdict.ownership}; ${user.name} can read it`))
    if (verdict.step === 'enctype') recorder.add('principal', 'principal', ok(listed(verdict.entries!)))
    recorder.add(verdict.step, verdict.step === 'enctype' ? 'encryption types' : verdict.step, fail(verdict.detail, verdict.cause, verdict.fix))
    return finish('misconfigured')
  }

  recorder.add('keytab', 'keytab', verdict.warning ? warn(verdict.warning.detail, 'the server does not offer GSSAPI with this keytab', verdict.warning.fix) : ok(`${keytab} is ${verdict.ownership}; ${user.name} can read it`))
  recorder.add('principal', 'principal', ok(listed(verdict.entries)))
  recorder.add('enctype', 'encryption types', ok(verdict.strong.map(({enctype}) => enctype).join(', ')))
  const {principal} = verdict
  const realm = principal.slice(principal.indexOf('@') + 1)

  // What the server decides with this keytab, by the same code (src/auth/backends/gssapi.ts).
  await recorder.step('sasl', 'SASL GSSAPI offer', async () => {
    if (!settings.auth_method.includes('gssapi')) return info(`auth_method (${settings.auth_method.join(', ')}) does not list gssapi: the server does not offer GSSAPI`)
    const backend = new GssapiBackend({...gssapiOptions(settings, input.baseDir, input.store, silentAuthLog), user})
    try {
      const readiness = await backend.ready()
      return readiness.ready ? ok(`the server offers GSSAPI: ${readiness.why}`) : fail(`the server does not offer GSSAPI: ${readiness.why}`)
    } finally {
      await backend.close()
    }
  })

  // 3. The KDC and the clocks: an AS exchange with the service's own key, into a private cache.
  const scratch = mkdtempSync(path.join(tmpdir(), 'xmppctl-gssapi-'))
  try {
    const kdc = await recorder.step('kdc', 'KDC and clock', async () => {
      // kdc_timesync would hide a skew here (the library adopts the KDC's time from its error, RFC 4120
      // §5.9.1) that clients' tickets would still meet at our acceptor: a profile listed first turns it off.
      const noTimesync = path.join(scratch, 'no-timesync.conf')
      writeFileSync(noTimesync, '[libdefaults]\n kdc_timesync = 0\n')
      const env = {...process.env, KRB5_CONFIG: `${noTimesync}:${process.env.KRB5_CONFIG ?? '/etc/krb5.conf'}`}
      const result = await run('kinit', ['-k', '-t', keytab, '-c', `FILE:${path.join(scratch, 'service.ccache')}`, principal], {env})
      if (result.code === -1) return fail('kinit is not installed', undefined, 'apt install krb5-user')
      if (result.code === 0) return ok(`the KDC of ${realm} issued a ticket to ${principal}: it is reachable, the key is current and the clocks agree`)
      return kinitDiagnosis(result.stderr, {principal, keytab})
    })
    if (kdc.status === 'fail') return finish('unavailable')

    // 4. A full SASL GSSAPI exchange as the server runs it, with the client's credentials.
    let ccache = input.ccache
    if (ccache === undefined && input.username !== undefined && input.password !== undefined) {
      const cache = `FILE:${path.join(scratch, 'client.ccache')}`
      const login = await recorder.step('client-kinit', `kinit ${input.username}@${realm}`, async () => {
        // The password goes to kinit on its standard input, never in argv.
        const result = await run('kinit', ['-c', cache, `${input.username}@${realm}`], {input: `${input.password}\n`})
        if (result.code === 0) return ok(`${input.username}@${realm} got a ticket-granting ticket`)
        return /Password incorrect|Preauthentication failed/i.test(result.stderr) ? fail(`${input.username}@${realm}: the password is wrong`, 'the KDC refused the password') : kinitDiagnosis(result.stderr, {principal: `${input.username}@${realm}`, keytab})
      })
      if (login.status === 'fail') return finish('rejected')
      ccache = cache
    }

    if (ccache === undefined) {
      recorder.add('exchange', 'GSS-API exchange', skip('no client credentials: give --ccache FILE:… (after kinit) or a JID and password'))
      return finish('reachable')
    }

    let verdict: Verdict = 'rejected'
    await recorder.step('exchange', 'GSS-API exchange', async () => {
      const result = await exchange(input, user, ccache!)
      if ('error' in result) return fail(result.error, result.cause, result.fix)
      if (input.username !== undefined && result.username !== input.username) return fail(`the server's SASL GSSAPI logged in ${result.username}@${settings.host}, not ${input.username}@${settings.host}`, 'the credential cache holds another principal', 'kinit as the user to test')
      verdict = 'accepted'
      return ok(`the server's SASL GSSAPI (target ${wanted}@${realm}, RFC 4752 security layer included) logged in ${result.username}@${settings.host}`)
    })

    return finish(verdict)
  } finally {
    rmSync(scratch, {recursive: true, force: true})
  }
}

/**
 * One SASL GSSAPI exchange as the server runs it: the server's mechanism
 * (src/sasl/mechanisms/gssapi.ts, through the gssapi backend's acceptor
 * helper, with RFC 4752 §3.1's security-layer step and the principal rule)
 * against the kerberos binding's initiator, which reads the client's cache.
 */
async function exchange(input: GssapiInput, user: SystemUser, ccache: string): Promise<{username: string} | {error: string; cause?: string; fix?: string}> {
  const settings = input.config.forHost(input.host)
  const service = settings.gssapi_service_name
  const backend = new GssapiBackend({...gssapiOptions(settings, input.baseDir, input.store, silentAuthLog), user})
  const saved = process.env.KRB5CCNAME
  // libgssapi reads it when the initiator's context is created; the diagnosis runs in its own process.
  process.env.KRB5CCNAME = ccache
  let session: SaslSession | undefined
  try {
    const readiness = await backend.ready()
    const acceptor = backend.acceptor
    if (!readiness.ready || !acceptor) return {error: `the server would not offer GSSAPI: ${readiness.why}`}
    const context: MechanismContext = {
      auth: {
        host: settings.host,
        checkPassword: async () => ({result: 'unsupported', reason: 'GSSAPI checks no password'}),
        getScramCredentials: async () => undefined,
        anonymousUsername: () => '',
        gssapi: {acceptor, map: (principal) => backend.map(principal, readiness)},
        accountStatus: async (username) => {
          const account = await input.store.getAccount(settings.host, username)
          if (!account) return {exists: false}
          return account.state === 'disabled' ? {exists: true, disabled: account.disabledReason ?? 'the account is disabled'} : {exists: true}
        },
      },
      connection: {encrypted: true, tlsVersion: 'TLSv1.3', channelBindings: {}},
      channelBindings: [],
      advertisedPlus: false,
      unknownUser: {secret: input.secret, iterations: settings.auth_scram_iterations},
      normalizeUsername: normalizeLocalpart,
    }
    session = GSSAPI.create(context)
    const kerberos = (await import('kerberos')).default
    const client = await kerberos.initializeClient(`${service}@${settings.host}`, {})
    let step = await session.step(Buffer.from(await client.step(''), 'base64'))
    // Kerberos V5 completes in one or two round trips (RFC 4121 §4.1), then the layer step; 6 bounds a misbehaving peer.
    for (let round = 0; round < 6 && step.type === 'challenge'; round++) {
      const challenge = step.data.toString('base64')
      // Past the context, the server's wrapped layer offer: the binding unwraps it and wraps "no layer" and the authzid.
      const response = client.contextComplete ? await client.wrap(await client.unwrap(challenge), {user: input.username}) : await client.step(challenge)
      step = await session.step(Buffer.from(response ?? '', 'base64'))
    }

    if (step.type === 'success') return {username: `${step.username}`}
    if (step.type === 'failure') return {error: `the server's SASL GSSAPI answers ${step.condition}: ${step.reason ?? step.text ?? 'no reason given'}`}
    return {error: 'the SASL GSSAPI exchange did not end'}
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error)
    if (/No credentials cache found|Credentials cache file .* not found|expired/i.test(message)) return {error: message, cause: 'the client credential cache is missing or expired', fix: 'kinit again, and pass its cache with --ccache'}
    if (/Server not found in Kerberos database/i.test(message)) return {error: message, cause: `the KDC does not know ${service}/${settings.host}`, fix: `kadmin -q "addprinc -randkey ${service}/${settings.host}"`}
    return {error: message}
  } finally {
    session?.dispose?.()
    await backend.close()
    if (saved === undefined) delete process.env.KRB5CCNAME
    else process.env.KRB5CCNAME = saved
  }
}
