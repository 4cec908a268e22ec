/**
 * xmppctl-auth-http: the `auth-backends` hook. It provides the `http`
 * backend: the server asks an HTTP(S) service whether a username and
 * password are valid (and whether a user exists), in the spirit of Prosody's
 * mod_auth_http. See README.md for the protocol and the settings.
 */
import type {AuthBackendDefinition, AuthBackendsHook, PluginBackend, PluginBackendContext, PluginOutcome} from 'xmppctl/src/plugins/api.js'

import {type HttpAuthOptions, ask, checkUrl, displayUrl, optionsFrom} from './client.js'
import {diagnose} from './diagnose.js'

class HttpBackend implements PluginBackend {
  readonly cacheable = true
  private options: HttpAuthOptions | undefined
  private problem: string | undefined

  constructor(private readonly context: PluginBackendContext) {}

  /** Options are read on first use, so a missing CA file shows as "unavailable", not a crash at start. */
  private settings(): HttpAuthOptions {
    if (this.options) return this.options
    if (this.problem) throw new Error(this.problem)
    try {
      this.options = optionsFrom(this.context.settings, this.context.baseDir)
      return this.options
    } catch (error) {
      this.problem = (error as Error).message
      throw error
    }
  }

  async capabilities(): Promise<{plain: boolean; unavailable?: string}> {
    try {
      this.settings()
      return {plain: true}
    } catch (error) {
      return {plain: false, unavailable: (error as Error).message}
    }
  }

  async checkPassword(username: string, password: string): Promise<PluginOutcome> {
    const options = this.settings()
    const answer = await ask(options, {action: 'check_password', username, host: this.context.host, password})
    switch (answer.kind) {
      case 'yes': {
        return {result: 'accepted'}
      }

      case 'no': {
        return {result: 'rejected', reason: `${displayUrl(options.url)} answered no (HTTP ${answer.status})`}
      }

      default: {
        this.context.log.warn(`http auth for ${username}@${this.context.host}: ${answer.reason}`)
        return {result: 'unavailable', reason: answer.reason}
      }
    }
  }

  async userExists(username: string): Promise<boolean> {
    const answer = await ask(this.settings(), {action: 'user_exists', username, host: this.context.host})
    if (answer.kind === 'error') throw new Error(answer.reason)
    return answer.kind === 'yes'
  }
}

const http: AuthBackendDefinition = {
  method: 'http',
  description: 'asks an HTTP(S) service whether a username and password are valid',
  keys: {
    http_auth_url: {
      spec: {type: 'string', nonEmpty: true},
      description: 'the URL credentials are POSTed to (https:// unless it is on this machine)',
      check: checkUrl,
    },
    http_auth_timeout: {spec: {type: 'integer', min: 1, max: 300}, description: 'seconds to wait for the service\'s answer', default: 5},
    http_auth_tls_verify: {spec: {type: 'boolean'}, description: 'verify the service\'s TLS certificate (leave on; use http_auth_ca_file for a private CA)', default: true},
    http_auth_ca_file: {spec: {type: 'string', nonEmpty: true}, description: 'PEM file of the CA to trust for the service instead of the system\'s'},
    http_auth_token_file: {spec: {type: 'string', nonEmpty: true}, description: 'file holding a token sent as "Authorization: Bearer"'},
  },
  requiredKeys: ['http_auth_url'],
  create: (context) => new HttpBackend(context),
  diagnose,
}

const hook: AuthBackendsHook = async () => ({apiVersion: 1, backends: [http]})

export default hook
