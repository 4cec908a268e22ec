/**
 * The HTTP exchange. Every request is a POST of a small JSON body to the
 * configured URL — credentials go in the body, never in the URL, so they do
 * not end up in the service's access logs or a proxy's:
 *
 *   {"action": "check_password", "username": "alice", "host": "example.org", "password": "…"}
 *   {"action": "user_exists", "username": "alice", "host": "example.org"}
 *
 * The service answers HTTP 200 with `true` or `false` (JSON, or the plain
 * words as Prosody's mod_auth_http expects), or `{"result": true|false}`.
 * 401/403 to check_password and 404 to user_exists also mean "no". Anything
 * else — another status, a redirect, a timeout, a TLS failure — means the
 * service could not be asked, which is never reported as a wrong password.
 */
import {readFileSync} from 'node:fs'
import http from 'node:http'
import https from 'node:https'
import path from 'node:path'

export interface HttpAuthOptions {
  url: URL
  /** Milliseconds for the whole exchange. */
  timeoutMs: number
  /** Verify the service's certificate (https). On by default. */
  tlsVerify: boolean
  /** PEM of the CA(s) to trust instead of the system's. */
  ca?: Buffer
  /** Sent as `Authorization: Bearer …`, so the service can tell this server from anyone else. */
  token?: string
}

export type HttpAnswer = {kind: 'yes'} | {kind: 'no'; status: number} | {kind: 'error'; reason: string; code?: string; status?: number}

/** A body larger than this is not a yes/no answer. */
const MAX_BODY = 64 * 1024

export const USER_AGENT = 'xmppctl-auth-http/0.1.0'

/** The URL as it may be shown: scheme, host, port and path; no query, no credentials. */
export function displayUrl(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}`
}

/** Why `value` cannot be http_auth_url, or undefined. */
export function checkUrl(value: unknown): string | undefined {
  let url: URL
  try {
    url = new URL(String(value))
  } catch {
    return 'must be an absolute http:// or https:// URL'
  }

  if (url.protocol !== 'https:' && url.protocol !== 'http:') return `must be an http:// or https:// URL, not ${url.protocol}`
  if (url.username || url.password) return 'must not contain a user name or password: put a token in http_auth_token_file instead'
  return undefined
}

/** Reads the options from a host's settings; relative files are relative to `baseDir`. Throws on unreadable files. */
export function optionsFrom(settings: Readonly<Record<string, unknown>>, baseDir: string): HttpAuthOptions {
  const url = new URL(String(settings.http_auth_url))
  const read = (key: string) => {
    const file = settings[key]
    if (typeof file !== 'string') return undefined
    const resolved = path.resolve(baseDir, file)
    try {
      return readFileSync(resolved)
    } catch (error) {
      throw new Error(`${key} ${resolved} cannot be read: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, {cause: error})
    }
  }

  const token = read('http_auth_token_file')?.toString('utf8').trim()
  return {
    url,
    timeoutMs: Number(settings.http_auth_timeout ?? 5) * 1000,
    tlsVerify: settings.http_auth_tls_verify !== false,
    ca: read('http_auth_ca_file'),
    ...(token ? {token} : {}),
  }
}

/** What an error from node:http(s) means to an operator. */
function describeError(error: NodeJS.ErrnoException, options: HttpAuthOptions): {reason: string; code?: string} {
  const where = `${options.url.hostname}:${options.url.port || (options.url.protocol === 'https:' ? 443 : 80)}`
  const code = error.code
  switch (code) {
    case 'ECONNREFUSED': {
      return {reason: `connection refused by ${where}: nothing listens there`, code}
    }

    case 'ENOTFOUND':
    case 'EAI_AGAIN': {
      return {reason: `the name ${options.url.hostname} does not resolve`, code}
    }

    case 'ECONNRESET': {
      return {reason: `${where} closed the connection`, code}
    }

    case 'EPROTO':
    case 'ERR_SSL_WRONG_VERSION_NUMBER': {
      return {reason: `TLS failed with ${where}: ${error.message.split('\n')[0]} (is it an https service?)`, code}
    }

    default: {
      if (code && /CERT|SELF_SIGNED|UNABLE_TO|HOSTNAME|ERR_TLS/.test(code)) {
        return {reason: `the certificate of ${where} is not trusted: ${error.message} (${code})`, code}
      }

      return {reason: `${where}: ${error.message}`, code}
    }
  }
}

/** POSTs `body` and interprets the answer. Never throws; never puts the body or the answer in a reason. */
export async function ask(options: HttpAuthOptions, body: Record<string, string>): Promise<HttpAnswer> {
  const payload = Buffer.from(JSON.stringify(body), 'utf8')
  const secure = options.url.protocol === 'https:'
  const headers: Record<string, string | number> = {
    'content-type': 'application/json',
    accept: 'application/json, text/plain',
    'content-length': payload.length,
    'user-agent': USER_AGENT,
  }
  if (options.token) headers.authorization = `Bearer ${options.token}`

  return new Promise<HttpAnswer>((resolve) => {
    let settled = false
    const finish = (answer: HttpAnswer) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      request.destroy()
      resolve(answer)
    }

    const requestOptions: https.RequestOptions = {
      method: 'POST',
      headers,
      ...(secure ? {rejectUnauthorized: options.tlsVerify, ...(options.ca ? {ca: options.ca} : {})} : {}),
    }
    const request = (secure ? https : http).request(options.url, requestOptions, (response) => {
      const status = response.statusCode ?? 0
      const chunks: Buffer[] = []
      let size = 0
      response.on('data', (chunk: Buffer) => {
        size += chunk.length
        if (size > MAX_BODY) finish({kind: 'error', reason: `the answer is larger than ${MAX_BODY / 1024} KiB`, status})
        else chunks.push(chunk)
      })
      response.on('error', (error) => finish({kind: 'error', ...describeError(error, options), status}))
      response.on('end', () => finish(interpret(status, Buffer.concat(chunks).toString('utf8'), body.action, response.headers.location)))
    })
    const timer = setTimeout(
      () => finish({kind: 'error', reason: `no answer from ${displayUrl(options.url)} within ${options.timeoutMs / 1000} s`, code: 'ETIMEDOUT'}),
      options.timeoutMs,
    )
    request.on('error', (error) => finish({kind: 'error', ...describeError(error, options)}))
    request.end(payload)
  })
}

function interpret(status: number, text: string, action: string | undefined, location: string | undefined): HttpAnswer {
  if (status >= 300 && status < 400) {
    // Following it would send the password wherever the redirect points.
    return {kind: 'error', reason: `the service redirected (HTTP ${status}${location ? ` to ${location.split('?')[0]}` : ''}); redirects are not followed`, status}
  }

  if (status === 200) {
    const answer = parseBoolean(text)
    if (answer === true) return {kind: 'yes'}
    if (answer === false) return {kind: 'no', status}
    return {kind: 'error', reason: 'the service answered HTTP 200, but not with true or false', status}
  }

  if ((action === 'check_password' && (status === 401 || status === 403)) || (action === 'user_exists' && status === 404)) return {kind: 'no', status}
  return {kind: 'error', reason: `the service answered HTTP ${status}`, status}
}

function parseBoolean(text: string): boolean | undefined {
  const trimmed = text.trim()
  if (trimmed === 'true' || trimmed === '1') return true
  if (trimmed === 'false' || trimmed === '0') return false
  try {
    const value = JSON.parse(trimmed) as unknown
    if (typeof value === 'boolean') return value
    if (value && typeof value === 'object' && typeof (value as {result?: unknown}).result === 'boolean') return (value as {result: boolean}).result
  } catch {}

  return undefined
}
