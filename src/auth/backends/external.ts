/**
 * The external backend: an `extauth_program` speaking either
 * - `generic` (Prosody's mod_auth_external line protocol): one line per
 *   request, `auth:USER:HOST:PASSWORD`, `isuser:USER:HOST`,
 *   `setpass:USER:HOST:PASSWORD`; the reply is the line `1` or `0`;
 * - `ejabberd` (ejabberd's extauth): each request is a 2-byte big-endian
 *   length counting UTF-8 bytes, then the bytes; the reply is the length 2 and
 *   a 16-bit 0 or 1. Commands `auth`, `isuser`, `setpass`, `tryregister`,
 *   `removeuser`, `removeuser3`.
 * Usernames and hosts cannot contain ":" (RFC 7622 §3.3.1 forbids it in a
 * localpart), so the program can split into at most the number of fields and
 * keep ":" in passwords.
 */
import {accessSync, constants, existsSync} from 'node:fs'
import path from 'node:path'

import {UnavailableError, XmppctlError} from '../../errors.js'
import type {AuthLog} from '../chain.js'
import {PoolError, ProcessPool, type ReplyCodec} from '../process-pool.js'
import type {AuthOutcome} from '../../sasl/session.js'
import type {AuthBackend, BackendCapabilities} from '../types.js'
import {unsupported} from './unsupported.js'

export type ExtauthProtocol = 'generic' | 'ejabberd'

export interface ExternalOptions {
  host: string
  program: string | undefined
  protocol: ExtauthProtocol
  poolSize: number
  /** Milliseconds per request. */
  timeout: number
  log: AuthLog
  backoffMs?: number
  /** Relative paths in `program` are relative to this directory (the configuration's). */
  baseDir?: string
}

/** The longest line a generic reply may be before we call it garbage. */
const MAX_GENERIC_REPLY = 256

export const GENERIC_CODEC: ReplyCodec<boolean> = {
  decode(buffer) {
    // An ejabberd-framed reply: length 2, then 0 or 1.
    if (buffer.length >= 2 && buffer[0] === 0 && buffer[1] === 2) {
      return {error: 'a length-prefixed (ejabberd) reply, not a line', mismatch: 'ejabberd'}
    }

    const newline = buffer.indexOf(0x0a)
    if (newline === -1) return buffer.length > MAX_GENERIC_REPLY ? {error: 'no line break in the reply'} : undefined
    let line = buffer.subarray(0, newline).toString('latin1')
    if (line.endsWith('\r')) line = line.slice(0, -1)
    if (line === '1' || line === '0') return {value: line === '1', consumed: newline + 1}
    return {error: 'the reply line must be exactly "1" or "0"'}
  },
}

export const EJABBERD_CODEC: ReplyCodec<boolean> = {
  decode(buffer) {
    if (buffer.length < 2) return undefined
    const length = buffer.readUInt16BE(0)
    if (length !== 2) {
      // "1\n" or "0\n": a line-protocol (generic) program.
      if ((buffer[0] === 0x30 || buffer[0] === 0x31) && (buffer[1] === 0x0a || buffer[1] === 0x0d)) {
        return {error: 'a line ("1"/"0"), not a length-prefixed reply', mismatch: 'generic'}
      }

      return {error: `the reply length must be 2, not ${length}`}
    }

    if (buffer.length < 4) return undefined
    const value = buffer.readUInt16BE(2)
    if (value !== 0 && value !== 1) return {error: `the reply value must be 0 or 1, not ${value}`}
    return {value: value === 1, consumed: 4}
  },
}

/** Frames one request for `protocol`; throws RangeError when it cannot be carried. */
export function encodeRequest(protocol: ExtauthProtocol, fields: readonly string[]): Buffer {
  const text = fields.join(':')
  if (protocol === 'generic') {
    if (/[\r\n]/.test(text)) throw new RangeError('a line break cannot be sent in the generic (line-based) protocol')
    return Buffer.from(`${text}\n`, 'utf8')
  }

  const body = Buffer.from(text, 'utf8')
  if (body.length > 0xffff) throw new RangeError('the request is longer than the 65535 bytes a 2-byte length can announce')
  const length = Buffer.alloc(2)
  length.writeUInt16BE(body.length)
  return Buffer.concat([length, body])
}

/** `extauth_program` may carry arguments ("/usr/bin/python3 /opt/auth.py"), as in ejabberd. */
export function splitProgram(program: string, baseDir = process.cwd()): {command: string; args: string[]} {
  const whole = path.resolve(baseDir, program)
  if (existsSync(whole)) return {command: whole, args: []}
  const [command, ...args] = program.trim().split(/\s+/)
  // A bare name ("python3") is looked up in PATH; a path is relative to the configuration.
  return {command: command.includes('/') ? path.resolve(baseDir, command) : command, args}
}

export class ExternalBackend implements AuthBackend {
  readonly method = 'external' as const
  readonly cacheable = true
  readonly options: ExternalOptions
  private pool: ProcessPool<boolean> | undefined

  constructor(options: ExternalOptions) {
    this.options = options
  }

  /** The pool, started on first use. Throws UnavailableError without a program. */
  processes(): ProcessPool<boolean> {
    const {program, protocol} = this.options
    if (!program) throw new UnavailableError('extauth_program is not set', 'set extauth_program to the authentication program')
    if (!this.pool) {
      const {command, args} = splitProgram(program, this.options.baseDir)
      this.pool = new ProcessPool<boolean>({
        name: `the external program ${program}`,
        command,
        args,
        size: this.options.poolSize,
        timeout: this.options.timeout,
        codec: protocol === 'generic' ? GENERIC_CODEC : EJABBERD_CODEC,
        log: this.options.log,
        backoffMs: this.options.backoffMs,
      })
    }

    return this.pool
  }

  async capabilities(): Promise<BackendCapabilities> {
    const {program} = this.options
    if (!program) return {plain: false, scram: [], anonymous: false, unavailable: 'extauth_program is not set'}
    const {command} = splitProgram(program, this.options.baseDir)
    try {
      accessSync(command, constants.X_OK)
    } catch (error) {
      if (command.includes('/')) {
        return {plain: false, scram: [], anonymous: false, unavailable: `${command} cannot be run: ${(error as Error).message}`}
      }
    }

    return {plain: true, scram: [], anonymous: false}
  }

  /** Sends one request; the reply is true for "1". Throws PoolError/UnavailableError. */
  async ask(fields: readonly string[], secrets: readonly string[] = []): Promise<boolean> {
    return this.processes().request(encodeRequest(this.options.protocol, fields), secrets)
  }

  async checkPassword(username: string, password: string): Promise<AuthOutcome> {
    let payload: Buffer
    try {
      payload = encodeRequest(this.options.protocol, ['auth', username, this.options.host, password])
    } catch (error) {
      return {result: 'rejected', reason: `the password cannot be sent to the program: ${(error as Error).message}`}
    }

    try {
      return (await this.processes().request(payload, [password])) ? {result: 'accepted'} : {result: 'rejected', reason: 'the program answered 0'}
    } catch (error) {
      if (error instanceof UnavailableError) return {result: 'unavailable', reason: error.message}
      throw error
    }
  }

  async getScramCredentials(): Promise<never> {
    throw unsupported(this.method, 'serve SCRAM: an external program only checks plaintext passwords')
  }

  async userExists(username: string): Promise<boolean> {
    return this.ask(['isuser', username, this.options.host])
  }

  async setPassword(username: string, password: string): Promise<void> {
    if (!(await this.ask(['setpass', username, this.options.host, password], [password]))) {
      throw new XmppctlError('extauth-refused', `the external program refused to set the password of ${username}@${this.options.host}`, {exitCode: 1})
    }
  }

  async createUser(username: string, password: string): Promise<void> {
    if (this.options.protocol === 'generic') throw unsupported(this.method, 'create accounts with the generic protocol', 'use extauth_protocol: ejabberd (tryregister)')
    if (!(await this.ask(['tryregister', username, this.options.host, password], [password]))) {
      throw new XmppctlError('extauth-refused', `the external program refused to register ${username}@${this.options.host}`, {exitCode: 1})
    }
  }

  async removeUser(username: string): Promise<void> {
    if (this.options.protocol === 'generic') throw unsupported(this.method, 'remove accounts with the generic protocol', 'use extauth_protocol: ejabberd (removeuser)')
    if (!(await this.ask(['removeuser', username, this.options.host]))) {
      throw new XmppctlError('extauth-refused', `the external program refused to remove ${username}@${this.options.host}`, {exitCode: 1})
    }
  }

  async close(): Promise<void> {
    await this.pool?.close()
  }
}

export {PoolError}
