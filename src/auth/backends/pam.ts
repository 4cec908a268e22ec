/**
 * The pam backend. PAM is a C API whose calls block (and whose modules sleep
 * on failure), so it runs in a small helper program built with xmppctl
 * (native/pam-helper.c, like ejabberd's epam), a pool of which is asked over
 * stdin/stdout: the event loop never waits on PAM, a crashing module takes
 * down a helper rather than the server, and no native Node addon has to match
 * the Node ABI.
 */
import {accessSync, constants} from 'node:fs'
import path from 'node:path'

import {UnavailableError} from '../../errors.js'
import {projectRoot} from '../../paths.js'
import type {AuthLog} from '../chain.js'
import {ProcessPool, type ReplyCodec} from '../process-pool.js'
import type {AuthOutcome} from '../../sasl/session.js'
import type {AuthBackend, BackendCapabilities} from '../types.js'
import {unsupported} from './unsupported.js'

export interface PamOptions {
  host: string
  service: string
  userinfotype: 'username' | 'jid'
  helper?: string
  log: AuthLog
  /** Milliseconds per PAM conversation (modules may sleep seconds on failure). */
  timeout?: number
  poolSize?: number
}

/** The helper's verdict: OK, or which stage failed with which PAM code. */
export type PamReply =
  | {ok: true}
  | {ok: false; stage: 'start' | 'authenticate' | 'acct_mgmt' | 'request'; code: number; name: string; text: string}

export const PAM_HELPER_CODEC: ReplyCodec<PamReply> = {
  decode(buffer) {
    if (buffer.length < 2) return undefined
    const length = buffer.readUInt16BE(0)
    if (buffer.length < 2 + length) return undefined
    const text = buffer.subarray(2, 2 + length).toString('utf8')
    if (text === 'OK') return {value: {ok: true}, consumed: 2 + length}
    const match = /^FAIL (start|authenticate|acct_mgmt|request) (\d+) (\S+) (.*)$/s.exec(text)
    if (!match) return {error: 'not a pam-helper reply'}
    const [, stage, code, name, message] = match
    return {value: {ok: false, stage: stage as 'start', code: Number(code), name, text: message}, consumed: 2 + length}
  },
}

/** The helper built by scripts/build-pam-helper.js next to the compiled code, unless XMPPCTL_PAM_HELPER says otherwise. */
export function defaultPamHelper(): string {
  return process.env.XMPPCTL_PAM_HELPER || path.join(projectRoot(), 'dist', 'native', 'pam-helper')
}

export const PAM_HELPER_MISSING_HINT = 'install libpam0g-dev (Debian/Ubuntu) or pam-devel (Fedora) and a C compiler, then rebuild (npm run build, or node scripts/build-pam-helper.js)'

/** Failed authentication (the user or password is wrong). */
const REJECTED = new Set(['PAM_AUTH_ERR', 'PAM_USER_UNKNOWN', 'PAM_CRED_INSUFFICIENT', 'PAM_MAXTRIES'])
/** Right password, but the account may not log in now. */
const ACCOUNT = new Set(['PAM_ACCT_EXPIRED', 'PAM_PERM_DENIED', 'PAM_NEW_AUTHTOK_REQD', 'PAM_AUTH_ERR', 'PAM_USER_UNKNOWN'])

export function pamOutcome(reply: PamReply, service: string): AuthOutcome {
  if (reply.ok) return {result: 'accepted'}
  const what = `${reply.name}: ${reply.text}`
  if (reply.stage === 'authenticate' && REJECTED.has(reply.name)) return {result: 'rejected', reason: `PAM authentication failed (${what})`}
  if (reply.stage === 'acct_mgmt' && ACCOUNT.has(reply.name)) return {result: 'disabled', reason: `PAM account check failed (${what})`}
  return {result: 'unavailable', reason: `PAM ${reply.stage} failed for service ${service} (${what}); the module's own message is in the system log (journalctl, /var/log/auth.log)`}
}

export class PamBackend implements AuthBackend {
  readonly method = 'pam' as const
  readonly cacheable = true
  readonly options: PamOptions
  readonly helper: string
  private pool: ProcessPool<PamReply> | undefined

  constructor(options: PamOptions) {
    this.options = options
    this.helper = options.helper ?? defaultPamHelper()
  }

  /** Why the helper cannot run, or undefined when it can. */
  helperProblem(): string | undefined {
    try {
      accessSync(this.helper, constants.X_OK)
      return undefined
    } catch {
      return `the PAM helper ${this.helper} is not built`
    }
  }

  async capabilities(): Promise<BackendCapabilities> {
    const problem = this.helperProblem()
    return problem ? {plain: false, scram: [], anonymous: false, unavailable: `${problem}: ${PAM_HELPER_MISSING_HINT}`} : {plain: true, scram: [], anonymous: false}
  }

  /** The PAM user name for a localpart (`pam_userinfotype`). */
  pamUser(username: string): string {
    return this.options.userinfotype === 'jid' ? `${username}@${this.options.host}` : username
  }

  /** One PAM conversation; throws UnavailableError when the helper cannot be asked. */
  async authenticate(username: string, password: string): Promise<PamReply> {
    const problem = this.helperProblem()
    if (problem) throw new UnavailableError(problem, PAM_HELPER_MISSING_HINT)
    this.pool ??= new ProcessPool<PamReply>({
      name: 'the PAM helper',
      command: this.helper,
      size: this.options.poolSize ?? 4,
      timeout: this.options.timeout ?? 15_000,
      codec: PAM_HELPER_CODEC,
      log: this.options.log,
    })
    const fields = ['auth', this.options.service, this.pamUser(username), password].map((text) => {
      const bytes = Buffer.from(text, 'utf8')
      if (bytes.length > 0xffff || bytes.includes(0)) throw new RangeError('a PAM field must be under 64 KiB without NUL')
      const length = Buffer.alloc(2)
      length.writeUInt16BE(bytes.length)
      return Buffer.concat([length, bytes])
    })
    return this.pool.request(Buffer.concat(fields), [password])
  }

  async checkPassword(username: string, password: string): Promise<AuthOutcome> {
    try {
      return pamOutcome(await this.authenticate(username, password), this.options.service)
    } catch (error) {
      if (error instanceof UnavailableError) return {result: 'unavailable', reason: error.message}
      if (error instanceof RangeError) return {result: 'rejected', reason: error.message}
      throw error
    }
  }

  async getScramCredentials(): Promise<never> {
    throw unsupported(this.method, 'serve SCRAM: PAM only checks plaintext passwords')
  }

  async userExists(): Promise<never> {
    throw unsupported(this.method, 'tell whether a user exists', 'PAM has no such question; use the system tools (getent passwd)')
  }

  async setPassword(): Promise<never> {
    throw unsupported(this.method, 'set passwords', 'use passwd, or the tool of the PAM module')
  }

  async createUser(): Promise<never> {
    throw unsupported(this.method, 'create accounts', 'create system users with useradd, or use the internal backend')
  }

  async removeUser(): Promise<never> {
    throw unsupported(this.method, 'remove accounts', 'remove system users with userdel')
  }

  async close(): Promise<void> {
    await this.pool?.close()
  }
}
