/**
 * `xmppctl test-auth http`: the URL, TLS, the token, and whether the service
 * answers — each with the cause and the fix when it does not. xmppctl then
 * tries the test account's credentials through the backend itself.
 */
import {randomBytes} from 'node:crypto'

import type {PluginDiagnoseContext, PluginDiagnosisResult} from 'xmppctl/src/plugins/api.js'

import {type HttpAuthOptions, ask, checkUrl, displayUrl, optionsFrom} from './client.js'

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]'])

export async function diagnose(context: PluginDiagnoseContext): Promise<PluginDiagnosisResult> {
  const {settings, baseDir, host} = context
  const urlProblem = checkUrl(settings.http_auth_url)
  const url = await context.step('url', 'service URL', () => {
    if (urlProblem) return {status: 'fail', detail: `http_auth_url ${urlProblem}`, fix: 'set http_auth_url to the service, e.g. https://auth.example.org/xmpp'}
    const parsed = new URL(String(settings.http_auth_url))
    if (parsed.protocol === 'http:' && !LOOPBACK.has(parsed.hostname) && !parsed.hostname.startsWith('127.')) {
      return {
        status: 'warn',
        detail: `${displayUrl(parsed)} is plain http`,
        cause: 'passwords cross the network in clear',
        fix: 'serve the auth service over https://',
      }
    }

    return {status: 'ok', detail: displayUrl(parsed)}
  })
  if (url.status === 'fail') return {verdict: 'misconfigured'}

  let options: HttpAuthOptions | undefined
  const files = await context.step('files', 'CA and token files', () => {
    try {
      options = optionsFrom(settings, baseDir)
    } catch (error) {
      return {status: 'fail', detail: (error as Error).message, fix: 'fix the path, or the file\'s permissions for the user xmppctl runs as'}
    }

    const read = [options.ca ? 'CA file' : '', options.token ? 'token' : ''].filter(Boolean)
    return {status: read.length > 0 ? 'ok' : 'info', detail: read.length > 0 ? `read ${read.join(' and ')}` : 'no CA file and no token configured'}
  })
  if (files.status === 'fail' || !options) return {verdict: 'misconfigured'}

  if (options.url.protocol === 'https:') {
    await context.step('tls-verify', 'TLS verification', () =>
      options!.tlsVerify
        ? {status: 'ok', detail: `on, trusting ${options!.ca ? 'the CA in http_auth_ca_file' : 'the system\'s CAs'}`}
        : {
            status: 'warn',
            detail: 'off (http_auth_tls_verify: false)',
            cause: 'anyone between this server and the service can pose as it and read every password',
            fix: 'remove http_auth_tls_verify: false; for a private CA set http_auth_ca_file',
          },
    )
  }

  // A user that surely does not exist: the service must answer, and answer no.
  const probe = `xmppctl-probe-${randomBytes(6).toString('hex')}`
  const reachable = await context.step('reachable', 'service answers', async () => {
    const started = performance.now()
    const answer = await ask(options!, {action: 'user_exists', username: probe, host})
    const ms = Math.round(performance.now() - started)
    if (answer.kind === 'no') return {status: 'ok', detail: `${displayUrl(options!.url)} answered in ${ms} ms (HTTP ${answer.status})`}
    if (answer.kind === 'yes') {
      return {status: 'warn', detail: `it says the made-up user ${probe} exists`, cause: 'the service answers yes to anything', fix: 'make user_exists answer false (or 404) for unknown users'}
    }

    const fix =
      answer.code === 'ECONNREFUSED'
        ? 'start the auth service, or correct the port in http_auth_url'
        : answer.code === 'ETIMEDOUT'
          ? 'check that the service is up and reachable from here, or raise http_auth_timeout'
          : answer.code && /CERT|SELF_SIGNED|UNABLE_TO|HOSTNAME/.test(answer.code)
            ? 'give the service a certificate for its name from a trusted CA, or set http_auth_ca_file to the CA\'s PEM'
            : answer.status
              ? 'the service must answer user_exists with HTTP 200 and true/false (or 404): see the plugin README'
              : undefined
    return {status: 'fail', detail: answer.reason, ...(fix ? {fix} : {})}
  })
  return reachable.status === 'fail' ? {verdict: 'unavailable'} : {}
}
