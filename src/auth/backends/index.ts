/**
 * Builds a host's backends from `auth_method`. Each backend is cheap to
 * construct: processes, sockets and keys are opened on first use, so building
 * every host's chain at start-up (or for `test-auth`) costs nothing.
 */
import path from 'node:path'

import type {HostSettings} from '../../config/index.js'
import type {AccountStore} from '../../store/index.js'
import {ConfigError} from '../../errors.js'
import type {AuthLog} from '../chain.js'
import type {AuthMethod} from '../../sasl/session.js'
import type {AuthBackend} from '../types.js'
import {AnonymousBackend} from './anonymous.js'
import {ExternalBackend} from './external.js'
import {GssapiBackend, gssapiOptions} from './gssapi.js'
import {InternalBackend} from './internal.js'
import {JwtBackend} from './jwt.js'
import {LdapBackend, ldapOptions} from './ldap.js'
import {PamBackend} from './pam.js'
import {SaslauthdBackend} from './saslauthd.js'
import {PluginBackendAdapter, pluginContext} from './plugin.js'
import type {PluginRegistry} from '../../config/plugins.js'

export interface BackendDeps {
  settings: HostSettings
  store: AccountStore
  secret: Buffer
  log: AuthLog
  /** Relative paths in the configuration (extauth_program, jwt_key) are relative to this directory. */
  baseDir: string
  /** The PAM helper program; default: the one built next to the compiled code. */
  pamHelper?: string
  /** The loaded auth plugins (the configuration's): methods not xmppctl's own come from them. */
  plugins: PluginRegistry
  /** The GSS-API helper program; default: the one built next to the compiled code. */
  gssapiHelper?: string
}

export function createBackend(method: AuthMethod, deps: BackendDeps): AuthBackend {
  const {settings} = deps
  const resolve = (file: string | undefined) => (file === undefined ? undefined : path.resolve(deps.baseDir, file))
  switch (method) {
    case 'internal': {
      return new InternalBackend(settings, deps.store, deps.secret)
    }

    case 'anonymous': {
      return new AnonymousBackend(settings)
    }

    case 'external': {
      return new ExternalBackend({
        host: settings.host,
        program: settings.extauth_program,
        baseDir: deps.baseDir,
        protocol: settings.extauth_protocol,
        poolSize: settings.extauth_pool_size,
        timeout: settings.extauth_timeout * 1000,
        log: deps.log,
      })
    }

    case 'saslauthd': {
      return new SaslauthdBackend({
        host: settings.host,
        socket: settings.saslauthd_socket,
        service: settings.cyrus_service_name,
        realm: settings.cyrus_service_realm ?? settings.host,
        requireProvisioning: settings.cyrus_require_provisioning,
        timeout: settings.saslauthd_timeout * 1000,
        store: deps.store,
      })
    }

    case 'pam': {
      return new PamBackend({
        host: settings.host,
        service: settings.pam_service,
        userinfotype: settings.pam_userinfotype,
        helper: deps.pamHelper,
        log: deps.log,
      })
    }

    case 'jwt': {
      return new JwtBackend({host: settings.host, keyFile: resolve(settings.jwt_key), jidField: settings.jwt_jid_field, clockSkew: settings.jwt_clock_skew})
    }

    case 'ldap': {
      return new LdapBackend(ldapOptions(settings, deps.baseDir, deps.log))
    }

    case 'gssapi': {
      return new GssapiBackend(gssapiOptions(settings, deps.baseDir, deps.store, deps.log, deps.gssapiHelper))
    }

    default: {
      // A method an installed auth plugin provides (src/plugins).
      const registered = deps.plugins.backends.get(method)
      if (!registered) throw new ConfigError(`no loaded auth plugin provides auth_method ${method}`, {hint: 'see "xmppctl plugins list"'})
      return new PluginBackendAdapter(registered, pluginContext(settings, deps.baseDir, deps.log))
    }
  }
}
