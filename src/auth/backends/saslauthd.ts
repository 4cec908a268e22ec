/**
 * The saslauthd backend (Cyrus SASL), speaking saslauthd's unix-socket
 * protocol directly: the client sends four fields — login, password, service,
 * realm — each a 2-byte big-endian byte length and the bytes; saslauthd
 * answers one such string, `OK …` or `NO …`, and closes the connection.
 */
import {createConnection} from 'node:net'

import {UnavailableError} from '../../errors.js'
import type {AccountStore} from '../../store/index.js'
import {showBytes} from '../process-pool.js'
import type {AuthOutcome} from '../../sasl/session.js'
import type {AuthBackend, BackendCapabilities} from '../types.js'
import {unsupported} from './unsupported.js'

export interface SaslauthdOptions {
  host: string
  socket: string
  service: string
  realm: string
  /** The account must also exist in the internal store (`cyrus_require_provisioning`). */
  requireProvisioning: boolean
  /** Milliseconds. */
  timeout: number
  store: AccountStore
}

export interface SaslauthdReply {
  ok: boolean
  /** The text after OK/NO ("authentication failed", "PAM auth error"). */
  text: string
  ms: number
}

/** Why the socket could not be used, with the OS error code (ENOENT, EACCES, ECONNREFUSED, …). */
export class SaslauthdError extends UnavailableError {
  readonly errno: string | undefined
  readonly bytes: Buffer | undefined

  constructor(message: string, options: {errno?: string; bytes?: Buffer; hint?: string} = {}) {
    super(message, options.hint)
    this.errno = options.errno
    this.bytes = options.bytes
  }
}

function field(text: string): Buffer {
  const bytes = Buffer.from(text, 'utf8')
  if (bytes.length > 0xffff) throw new RangeError('a saslauthd field is at most 65535 bytes')
  const length = Buffer.alloc(2)
  length.writeUInt16BE(bytes.length)
  return Buffer.concat([length, bytes])
}

/** One request to saslauthd on `socket`; throws SaslauthdError when it cannot be asked or answers garbage. */
export function askSaslauthd(
  socket: string,
  request: {login: string; password: string; service: string; realm: string},
  timeout: number,
): Promise<SaslauthdReply> {
  const started = performance.now()
  const payload = Buffer.concat([field(request.login), field(request.password), field(request.service), field(request.realm)])
  return new Promise((resolve, reject) => {
    let received = Buffer.alloc(0)
    let settled = false
    const connection = createConnection(socket)
    const finish = (error: SaslauthdError | undefined, reply?: SaslauthdReply) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      connection.destroy()
      if (error) reject(error)
      else resolve(reply!)
    }

    const timer = setTimeout(
      () => finish(new SaslauthdError(`saslauthd on ${socket} gave no answer within ${timeout / 1000} s`, {errno: 'ETIMEDOUT', hint: 'check that saslauthd is not overloaded (-n) and that its mechanism (-a) answers'})),
      timeout,
    )
    connection.on('connect', () => connection.write(payload))
    connection.on('error', (error: NodeJS.ErrnoException) => {
      finish(new SaslauthdError(`cannot talk to saslauthd on ${socket}: ${error.code ?? ''} ${error.message}`.replace(/  +/g, ' '), {errno: error.code}))
    })
    connection.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk])
      if (received.length < 2) return
      const length = received.readUInt16BE(0)
      if (received.length < 2 + length) return
      const text = received.subarray(2, 2 + length).toString('utf8')
      if (received.length > 2 + length || !/^(OK|NO)\b/.test(text)) {
        finish(new SaslauthdError(`saslauthd on ${socket} answered ${showBytes(received)}, not OK or NO`, {bytes: received}))
        return
      }

      finish(undefined, {ok: text.startsWith('OK'), text: text.slice(2).trim().replace(/^"|"$/g, ''), ms: performance.now() - started})
    })
    connection.on('end', () => {
      finish(new SaslauthdError(`saslauthd on ${socket} closed the connection ${received.length === 0 ? 'without answering' : `after ${showBytes(received)}`}`, {bytes: received}))
    })
  })
}

export class SaslauthdBackend implements AuthBackend {
  readonly method = 'saslauthd' as const
  readonly cacheable = true
  readonly options: SaslauthdOptions

  constructor(options: SaslauthdOptions) {
    this.options = options
  }

  async capabilities(): Promise<BackendCapabilities> {
    // Whether saslauthd answers is known only by asking; a failed login says so (unavailable).
    return {plain: true, scram: [], anonymous: false}
  }

  async ask(username: string, password: string): Promise<SaslauthdReply> {
    const {socket, service, realm, timeout} = this.options
    return askSaslauthd(socket, {login: username, password, service, realm}, timeout)
  }

  async checkPassword(username: string, password: string): Promise<AuthOutcome> {
    if (this.options.requireProvisioning) {
      const exists = await this.options.store.accountExists(this.options.host, username)
      if (!exists) return {result: 'rejected', reason: `${username}@${this.options.host} is not provisioned in the internal store (cyrus_require_provisioning)`}
    }

    try {
      const reply = await this.ask(username, password)
      return reply.ok ? {result: 'accepted'} : {result: 'rejected', reason: `saslauthd: NO ${reply.text}`.trim()}
    } catch (error) {
      if (error instanceof UnavailableError) return {result: 'unavailable', reason: error.message}
      throw error
    }
  }

  async getScramCredentials(): Promise<never> {
    throw unsupported(this.method, 'serve SCRAM: saslauthd only checks plaintext passwords')
  }

  async userExists(username: string): Promise<boolean> {
    if (this.options.requireProvisioning) return this.options.store.accountExists(this.options.host, username)
    throw unsupported(this.method, 'tell whether a user exists', 'set cyrus_require_provisioning: true to use the internal store for that')
  }

  async setPassword(): Promise<never> {
    throw unsupported(this.method, 'set passwords', 'change the password where saslauthd checks it (PAM, sasldb, LDAP)')
  }

  async createUser(): Promise<never> {
    throw unsupported(this.method, 'create accounts')
  }

  async removeUser(): Promise<never> {
    throw unsupported(this.method, 'remove accounts')
  }

  async close(): Promise<void> {}
}
