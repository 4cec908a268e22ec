/**
 * The GSS-API acceptor for SASL GSSAPI (RFC 4752): one helper process per
 * host (native/gssapi-helper.c over MIT libgssapi_krb5), since the npm
 * kerberos binding's acceptor cannot gss_wrap or gss_unwrap (RFC 4752 §3.1).
 * One process serves every authentication of the host, its contexts kept by
 * id: an exchange costs a few pipe round trips instead of a process start
 * (bench/gssapi.js: about 1700 exchanges/s against 46/s with a helper per
 * exchange, 36 times more), and the replay cache is opened once. A crash fails only the exchanges in flight and
 * the next request starts a new process.
 */
import {type ChildProcessWithoutNullStreams, spawn} from 'node:child_process'
import {accessSync, constants} from 'node:fs'
import path from 'node:path'

import {UnavailableError} from '../../errors.js'
import {projectRoot} from '../../paths.js'
import {type AcceptResult, type GssAcceptor, GssError, type GssFailureClass} from '../../sasl/gss-acceptor.js'

export const GSSAPI_HELPER_MISSING_HINT = 'install libkrb5-dev (Debian/Ubuntu) or krb5-devel (Fedora) and a C compiler, then rebuild (npm run build)'

/** The helper built by scripts/build-pam-helper.js, unless XMPPCTL_GSSAPI_HELPER says otherwise. */
export function defaultGssapiHelper(): string {
  return process.env.XMPPCTL_GSSAPI_HELPER || path.join(projectRoot(), 'dist', 'native', 'gssapi-helper')
}

/** Why the helper program cannot run, or undefined. */
export function gssapiHelperProblem(helper: string): string | undefined {
  try {
    accessSync(helper, constants.X_OK)
    return undefined
  } catch {
    return `the GSS-API helper ${helper} is not built: ${GSSAPI_HELPER_MISSING_HINT}`
  }
}

export interface GssAcceptorOptions {
  /** service/HOST@REALM, or service/HOST for the default realm. */
  principal: string
  keytab: string
  helper?: string
  /** Milliseconds per request (default 10 s). */
  timeout?: number
  /** Where the helper's stderr lines go. */
  onStderr?: (line: string) => void
}

interface Pending {
  resolve(reply: {status: string; data: Buffer}): void
  reject(error: Error): void
  timer: NodeJS.Timeout
}

const HEADER = 9

export class HelperGssAcceptor implements GssAcceptor {
  readonly helper: string
  private child: ChildProcessWithoutNullStreams | undefined
  private buffer = Buffer.alloc(0)
  /** Replies come in request order (the helper is sequential); the id is checked all the same. */
  private readonly pending: Array<{id: number} & Pending> = []
  private nextId = 1
  private closed = false

  constructor(private readonly options: GssAcceptorOptions) {
    this.helper = options.helper ?? defaultGssapiHelper()
  }

  /** The helper's process id while it runs (bench/gssapi.js reads its CPU time). */
  get pid(): number | undefined {
    return this.child?.pid
  }

  /** A new context id for one authentication. */
  newContext(): number {
    const id = this.nextId
    this.nextId = this.nextId >= 0xff_ff_ff_ff ? 1 : this.nextId + 1
    return id
  }

  /** Acquires the acceptor credential: fails when the keytab lacks the principal or cannot be read. */
  async check(): Promise<string> {
    return (await this.request('C', 0, Buffer.alloc(0))).toString('utf8')
  }

  async accept(context: number, token: Buffer): Promise<AcceptResult> {
    const reply = await this.send('A', context, token)
    if (reply.status === 'N') return {complete: false, token: reply.data}
    const length = reply.data.readUInt32BE(0)
    return {complete: true, token: reply.data.subarray(4, 4 + length), principal: reply.data.subarray(4 + length).toString('utf8')}
  }

  async wrap(context: number, data: Buffer): Promise<Buffer> {
    return this.request('W', context, data)
  }

  async unwrap(context: number, token: Buffer): Promise<Buffer> {
    return this.request('U', context, token)
  }

  /** Forgets a context; never throws (the helper may be gone, and the context with it). */
  async release(context: number): Promise<void> {
    if (this.closed || !this.child) return
    await this.request('D', context, Buffer.alloc(0)).catch(() => {})
  }

  async close(): Promise<void> {
    this.closed = true
    const child = this.child
    this.child = undefined
    if (!child) return
    // Closing stdin ends the helper (it exits at EOF); a kill covers one stuck in a library call.
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
    child.stdin.end()
    const timer = setTimeout(() => child.kill('SIGKILL'), 2000)
    await exited
    clearTimeout(timer)
  }

  private async request(op: string, context: number, data: Buffer): Promise<Buffer> {
    return (await this.send(op, context, data)).data
  }

  private send(op: string, context: number, data: Buffer): Promise<{status: string; data: Buffer}> {
    if (this.closed) return Promise.reject(new UnavailableError('the GSS-API helper is closed'))
    const child = this.start()
    return new Promise((resolve, reject) => {
      const header = Buffer.alloc(HEADER)
      header.write(op, 0, 'latin1')
      header.writeUInt32BE(context, 1)
      header.writeUInt32BE(data.length, 5)
      const timer = setTimeout(() => this.fail(new UnavailableError(`the GSS-API helper did not answer within ${this.options.timeout ?? 10_000} ms`)), this.options.timeout ?? 10_000)
      this.pending.push({
        id: context,
        timer,
        reject,
        resolve: (reply) => {
          if (reply.status === 'E') reject(parseFailure(reply.data.toString('utf8'), op === 'A'))
          else resolve(reply)
        },
      })
      child.stdin.write(Buffer.concat([header, data]))
    })
  }

  private start(): ChildProcessWithoutNullStreams {
    if (this.child) return this.child
    const problem = gssapiHelperProblem(this.helper)
    if (problem) throw new UnavailableError(problem)
    // The keytab is this process's only: KRB5_KTNAME is read by the library when the credential is acquired.
    // LC_ALL=C: MIT's messages untranslated, as parseFailure reads them.
    const child = spawn(this.helper, [this.options.principal], {env: {...process.env, KRB5_KTNAME: `FILE:${this.options.keytab}`, LC_ALL: 'C'}, stdio: 'pipe'})
    this.child = child
    this.buffer = Buffer.alloc(0)
    child.stdout.on('data', (chunk: Buffer) => this.receive(chunk))
    let stderr = ''
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk
      for (let newline = stderr.indexOf('\n'); newline !== -1; newline = stderr.indexOf('\n')) {
        this.options.onStderr?.(stderr.slice(0, newline))
        stderr = stderr.slice(newline + 1)
      }
    })
    child.stdin.on('error', () => {})
    child.on('error', (error) => this.fail(new UnavailableError(`the GSS-API helper ${this.helper} could not run: ${error.message}`), child))
    child.on('exit', (code, signal) => this.fail(new UnavailableError(`the GSS-API helper exited (${signal ?? `code ${code}`})`), child))
    return child
  }

  private receive(chunk: Buffer): void {
    this.buffer = Buffer.concat([this.buffer, chunk])
    while (this.buffer.length >= HEADER) {
      const length = this.buffer.readUInt32BE(5)
      if (this.buffer.length < HEADER + length) return
      const id = this.buffer.readUInt32BE(0)
      const status = String.fromCharCode(this.buffer[4])
      const data = Buffer.from(this.buffer.subarray(HEADER, HEADER + length))
      this.buffer = this.buffer.subarray(HEADER + length)
      const pending = this.pending.shift()
      if (!pending || pending.id !== id) {
        this.fail(new UnavailableError('the GSS-API helper answered out of order'))
        return
      }

      clearTimeout(pending.timer)
      pending.resolve({status, data})
    }
  }

  /** Every request in flight fails, and the process (if it is still this one) is stopped: contexts die with it. */
  private fail(error: Error, child = this.child): void {
    if (child !== this.child) return
    this.child = undefined
    child?.kill('SIGKILL')
    for (const pending of this.pending.splice(0)) {
      clearTimeout(pending.timer)
      pending.reject(error)
    }
  }
}

/**
 * MIT's messages for the failures a client causes, in the C locale the helper
 * runs in: the mechglue layer renumbers minor codes, so the text is what
 * tells a clock skew from a replay (RFC 4120 §5.9.1 KRB_AP_ERR_SKEW,
 * KRB_AP_ERR_REPEAT, KRB_AP_ERR_TKT_EXPIRED, KRB_AP_ERR_BADMATCH…).
 */
const ACCEPT_MESSAGES: ReadonlyArray<[RegExp, GssFailureClass]> = [
  [/Clock skew too great/i, 'skew'],
  [/Request is a replay/i, 'replay'],
  [/Ticket expired|ticket has expired/i, 'expired'],
  [/Wrong principal in request|does not match|No key table entry found for|not found in keytab/i, 'wrong-principal'],
  [/Key version|kvno|Cannot find key|Decrypt integrity check failed|Key table file|Permission denied|Bad encryption type/i, 'keytab'],
]

/** "CLASS MAJOR MINOR message" from the helper; `accept` refines the class from the mechanism's message. */
export function parseFailure(text: string, accept = false): GssError {
  const match = /^(\S+) (\d+) (-?\d+) ?(.*)$/s.exec(text)
  if (!match) return new GssError('other', 0, 0, text)
  const message = match[4]
  const refined = accept ? ACCEPT_MESSAGES.find(([pattern]) => pattern.test(message))?.[1] : undefined
  return new GssError(refined ?? (match[1] as GssFailureClass), Number(match[2]), Number(match[3]), message)
}
