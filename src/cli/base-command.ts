import {Command, Errors, type Interfaces} from '@oclif/core'

import type {AccountDataContext} from '../accounts/data.js'
import type {AccountContext} from '../accounts/index.js'
import type {AccountEvent, ServerNotice} from '../running-server.js'
import {type Configuration, loadConfig} from '../config/index.js'
import {loadedAuthPlugins} from '../plugins/loader.js'
import {ExitCode, type ExitStatus, isXmppctlError} from '../errors.js'
import {stderrColour} from './output.js'
import {flags} from './flags.js'
import {type PasswordSource, readPassword} from './prompts.js'

/** oclif's FlagOutput/ArgOutput, which its public interfaces do not export. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type ParsedOutput = {[name: string]: any}

/** The error shape printed under `--json`, and the one line printed otherwise. */
export interface RenderedError {
  code: string
  message: string
  hint?: string
  exitCode: number
}

export function renderError(error: unknown): RenderedError {
  if (isXmppctlError(error)) {
    return {code: error.code, message: error.message, ...(error.hint ? {hint: error.hint} : {}), exitCode: error.exitCode}
  }

  if (error instanceof Errors.CLIError) {
    // oclif's parser errors (unknown flag, missing argument) are usage errors. They
    // span lines ("Missing 1 required arg:\njid  bare JID…"); one line keeps them all.
    const [first, ...rest] = error.message
      .replace(/^Error: /, '')
      .split('\n')
      .map((line) => line.replace(/\s+/g, ' ').trim())
      // oclif's advice about multi-value flags and "--" is noise in a one-line error.
      // "The following error occurred:" heads oclif's flag errors and says nothing itself.
      .filter((line) => line !== '' && line !== 'See more help with --help' && !/^(Note:|Alternatively,|The following errors? occurred:$)/.test(line))
      // oclif names a missing flag without its dashes ("Missing required flag to"): say it as it is typed.
      .map((line) => line.replace(/^Missing required flag (\w[\w-]*)$/, 'Missing required flag --$1'))
    const message = rest.length === 0 ? first : `${first}${first.endsWith(':') ? ' ' : ': '}${rest.join('; ')}`
    const exit = error.oclif?.exit
    return {
      code: 'usage',
      message,
      hint: 'see --help for the arguments and flags this command takes',
      exitCode: typeof exit === 'number' && exit !== 1 ? exit : ExitCode.usage,
    }
  }

  const message = error instanceof Error ? error.message : String(error)
  return {
    code: 'internal',
    message: `unexpected error: ${message}`,
    hint: 'this is a bug in xmppctl; rerun with DEBUG=xmppctl to see where, and report it',
    // Not 1: scripts read 1 as "the checked thing is false" (a wrong password), never as a crash.
    exitCode: ExitCode.internal,
  }
}

/** An error as the user sees it: one line on stderr, or `{"error": …}` on stdout under --json. */
export function printError(rendered: RenderedError, json: boolean): void {
  if (json) {
    const {exitCode: _, ...body} = rendered
    process.stdout.write(`${JSON.stringify({error: body}, null, 2)}\n`)
    return
  }

  const hint = rendered.hint ? ` ${stderrColour.dim(`(${rendered.hint})`)}` : ''
  process.stderr.write(`${stderrColour.red('error:')} ${rendered.message}${hint}\n`)
}

/**
 * The base of every xmppctl command: `--json`, `--config`, typed errors
 * rendered as one line (or a JSON object) with the right exit code, and
 * resources (the store) closed however the command ends.
 */
export abstract class BaseCommand<T> extends Command {
  static enableJsonFlag = true
  static baseFlags = {config: flags.config()}

  private configuration: Configuration | undefined
  private accountContext: AccountContext | undefined
  private accountDataContext: AccountDataContext | undefined

  abstract run(): Promise<T>

  /**
   * oclif fills a missing first argument from piped standard input; here
   * stdin carries passwords (--password-stdin), so a forgotten JID would turn
   * the password into an argument and print it in the error. Arguments come
   * from argv only.
   */
  protected async parse<F extends ParsedOutput, B extends ParsedOutput, A extends ParsedOutput>(
    options?: Interfaces.Input<F, B, A>,
    argv?: string[],
  ): Promise<Interfaces.ParserOutput<F, B, A>> {
    const input = (options ?? this.ctor) as Interfaces.Input<F, B, A> & {baseFlags?: Interfaces.FlagInput; enableJsonFlag?: boolean}
    const args = Object.fromEntries(Object.entries(input.args ?? {}).map(([name, arg]) => [name, {...arg, ignoreStdin: true}])) as typeof input.args
    const fromArgvOnly = {...input, flags: input.flags, baseFlags: input.baseFlags, enableJsonFlag: input.enableJsonFlag, strict: input.strict, args}
    return super.parse(fromArgvOnly, argv)
  }

  /**
   * The validated configuration named by `--config`, `XMPPCTL_CONFIG` or
   * `./xmppctl.yml`, with the auth plugins the prerun hook (or the command) loaded.
   */
  protected async loadConfiguration(): Promise<Configuration> {
    if (!this.configuration) {
      const {flags: parsed} = await this.parse(this.ctor)
      this.configuration = loadConfig(parsed.config as string | undefined, process.env, loadedAuthPlugins())
    }

    return this.configuration
  }

  /**
   * The configuration and the account store, closed when the command ends;
   * `create: false` for commands that only read (no store is left behind),
   * with `orAbsent` for diagnostics, where a missing store reads as empty.
   */
  protected async accounts({create = true, orAbsent = false}: {create?: boolean; orAbsent?: boolean} = {}): Promise<AccountContext> {
    if (!this.accountContext) {
      const config = await this.loadConfiguration()
      const {openAccountStore} = await import('../store/index.js')
      this.accountContext = {config, store: await openAccountStore(config, {create, orAbsent})}
    }

    return this.accountContext
  }

  /**
   * The account store and the store of the accounts' server data (rosters,
   * offline messages, …), both closed when the command ends. Never creates a
   * store: there is no data to administer without one.
   */
  protected async accountData(): Promise<AccountDataContext> {
    if (!this.accountDataContext) {
      const context = await this.accounts({create: false})
      const {openAccountDataStore} = await import('../store/index.js')
      this.accountDataContext = {...context, data: await openAccountDataStore(context.config)}
    }

    return this.accountDataContext
  }

  /**
   * Tells a running server about an account change and says what it did.
   * Returns the notice to include in --json output (absent when no server runs).
   */
  protected async tellServer(event: AccountEvent): Promise<ServerNotice | undefined> {
    const {tellRunningServer} = await import('../running-server.js')
    const {notice, warning} = await tellRunningServer((await this.accounts()).config, event)
    if (warning) this.note(warning)
    if (notice && notice.closed > 0) this.log(`the running server closed ${notice.closed} session(s) of ${event.jid}`)
    return notice
  }

  /** Tells a running server that a roster item changed; how many online sessions got the push (absent when no server runs). */
  protected async tellServerRosterChanged(jid: string, contact: string): Promise<number | undefined> {
    const {pushRosterChange} = await import('../running-server.js')
    const {pushed, warning} = await pushRosterChange(await this.loadConfiguration(), jid, contact)
    if (warning) this.note(warning)
    return pushed
  }

  protected async password(source: PasswordSource): Promise<string> {
    return readPassword(source)
  }

  /** Ends with `status` after printing the result: the checked thing was false. */
  protected setExitStatus(status: ExitStatus): void {
    process.exitCode = status
  }

  /** Warnings go to stderr so that stdout stays pipeable; silent under --json. */
  protected note(message: string): void {
    if (!this.jsonEnabled()) process.stderr.write(`${stderrColour.yellow('warning:')} ${message}\n`)
  }

  protected logJson(json: unknown): void {
    process.stdout.write(`${JSON.stringify(json, null, 2)}\n`)
  }

  protected async catch(error: Interfaces.CommandError): Promise<void> {
    if (error instanceof Errors.ExitError) throw error
    const rendered = renderError(error)
    process.exitCode = rendered.exitCode
    printError(rendered, this.jsonEnabled())
    if (!this.jsonEnabled() && rendered.code === 'internal' && process.env.DEBUG && error instanceof Error) process.stderr.write(`${error.stack}\n`)
  }

  protected async finally(error: Error | undefined): Promise<void> {
    await this.accountDataContext?.data.close()
    await this.accountContext?.store.close()
    return super.finally(error)
  }
}
