/**
 * `xmppctl test-auth`: runs a real backend with a host's configuration and
 * reports each step. `diagnoseAll` runs every configured backend of every host
 * and explains the mechanisms each host would offer.
 */
import path from 'node:path'

import type {Configuration} from '../../config/index.js'
import type {AccountStore} from '../../store/index.js'
import {createHostAuthenticator} from '../index.js'
import type {MechanismDecision} from '../offer.js'
import {loadServerSecret} from '../secret.js'
import type {AuthMethod, ConnectionSecurity} from '../../sasl/session.js'
import {diagnoseExternal} from './external.js'
import {diagnoseAnonymous, diagnoseInternal} from './internal.js'
import {diagnoseGssapi} from './gssapi.js'
import {diagnoseJwt} from './jwt.js'
import {diagnoseLdap} from './ldap.js'
import {diagnosePam} from './pam.js'
import {type BackendDiagnosis, Recorder, fail} from './report.js'
import {diagnoseSaslauthd} from './saslauthd.js'
import type {DiagnoseInput} from './types.js'
import type {SystemUser} from '../../system.js'

export type {BackendDiagnosis, DiagnosticStep, StepStatus, Verdict} from './report.js'
export type {DiagnoseInput} from './types.js'

export interface DiagnoseRequest {
  config: Configuration
  store: AccountStore
  host: string
  username?: string
  password?: string
  token?: string
  pamHelper?: string
  /** gssapi: the user the server runs as (--as), and a client credential cache (--ccache). */
  as?: SystemUser
  ccache?: string
}

function inputFor(request: DiagnoseRequest): DiagnoseInput {
  return {
    ...request,
    baseDir: request.config.file ? path.dirname(request.config.file) : process.cwd(),
    // A diagnosis leaves no state behind: without a secret yet, one of this process serves.
    secret: loadServerSecret(request.config.dataDir, {create: false}).secret,
  }
}

export async function diagnoseBackend(method: AuthMethod, request: DiagnoseRequest): Promise<BackendDiagnosis> {
  const input = inputFor(request)
  switch (method) {
    case 'internal': {
      return diagnoseInternal(input)
    }

    case 'external': {
      return diagnoseExternal(input)
    }

    case 'saslauthd': {
      return diagnoseSaslauthd(input)
    }

    case 'pam': {
      return diagnosePam(input)
    }

    case 'jwt': {
      return diagnoseJwt(input)
    }

    case 'anonymous': {
      return diagnoseAnonymous(input)
    }

    case 'ldap': {
      return diagnoseLdap(input)
    }

    case 'gssapi': {
      return diagnoseGssapi(input)
    }

    default: {
      // A method an installed auth plugin provides: its own steps, then the credentials.
      const registered = request.config.plugins.backends.get(method)
      if (registered) {
        const {diagnosePlugin} = await import('./plugin.js')
        return diagnosePlugin(registered, input)
      }

      const recorder = new Recorder()
      recorder.add('plugin', 'backend', fail(`no loaded auth plugin provides the ${method} backend`, undefined, 'see "xmppctl plugins list"'))
      return recorder.finish(method, request.host, 'misconfigured')
    }
  }
}

/** The connections `test-auth all` explains the offer for. */
export const CONNECTION_PROFILES: Array<{name: string; connection: ConnectionSecurity}> = [
  {name: 'TLS 1.3', connection: {encrypted: true, tlsVersion: 'TLSv1.3', channelBindings: {'tls-exporter': Buffer.alloc(32, 1)}}},
  {name: 'TLS 1.2', connection: {encrypted: true, tlsVersion: 'TLSv1.2', channelBindings: {'tls-unique': Buffer.alloc(12, 1)}}},
  {name: 'no TLS', connection: {encrypted: false, channelBindings: {}}},
]

export interface HostReport {
  host: string
  authMethod: AuthMethod[]
  backends: BackendDiagnosis[]
  offers: Array<{connection: string; mechanisms: string[]; decisions: MechanismDecision[]}>
}

/** Every backend of every host (the test account only on its own host), and the mechanisms offered. */
export async function diagnoseAll(
  config: Configuration,
  store: AccountStore,
  account?: {host: string; username: string; password?: string; token?: string},
  options: {pamHelper?: string} = {},
): Promise<HostReport[]> {
  const reports: HostReport[] = []
  const {secret} = loadServerSecret(config.dataDir, {create: false})
  for (const host of config.hosts) {
    const settings = config.forHost(host)
    const credentials = account && account.host === host ? account : {}
    const backends: BackendDiagnosis[] = []
    for (const method of settings.auth_method) {
      backends.push(await diagnoseBackend(method, {config, store, host, ...credentials, ...options}))
    }

    const authenticator = createHostAuthenticator(config, host, store, {secret, pamHelper: options.pamHelper, capabilitiesTtl: 0})
    try {
      const offers = []
      for (const {name, connection} of CONNECTION_PROFILES) {
        const decisions = await authenticator.decisions(connection)
        offers.push({connection: name, mechanisms: decisions.filter((decision) => decision.offered).map((decision) => decision.mechanism), decisions})
      }

      reports.push({host, authMethod: settings.auth_method, backends, offers})
    } finally {
      await authenticator.close()
    }
  }

  return reports
}
