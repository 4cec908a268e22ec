import {Args, Flags} from '@oclif/core'

import {resolveAccount} from '../../src/accounts/index.js'
import type {BackendDiagnosis} from '../../src/auth/diagnose/index.js'
import {BaseCommand} from '../../src/cli/base-command.js'
import {flags} from '../../src/cli/flags.js'
import {isInteractive, readStdinLine} from '../../src/cli/prompts.js'
import {AUTH_METHODS} from '../../src/config/schema.js'
import {ExitCode, UsageError} from '../../src/errors.js'

export default class TestAuth extends BaseCommand<BackendDiagnosis> {
  static description = `Run an authentication backend for real and explain each step

Uses the host's configuration (the JID's host, or --host) and prints each step with its timing: configuration found, program, socket or service present, permissions, the protocol exchange, the verdict; for a failure, the cause and the fix. Without a JID it checks that the backend can be reached.

Exit status: 0 accepted (or reachable without problems), 1 rejected or a problem found, 2 misconfigured, 3 unavailable.`

  static examples = [
    "printf '%s\\n' \"$PASSWORD\" | <%= config.bin %> <%= command.id %> external alice@example.org --password-stdin",
    '<%= config.bin %> <%= command.id %> saslauthd --host example.org',
    '<%= config.bin %> <%= command.id %> jwt alice@example.org --token-stdin < token.txt',
    '<%= config.bin %> <%= command.id %> pam alice@example.org --json',
    '<%= config.bin %> <%= command.id %> ldap alice@example.org',
    '<%= config.bin %> <%= command.id %> gssapi --host example.org --as xmpp --ccache FILE:/tmp/krb5cc_1000',
    "printf '%s\\n' \"$PASSWORD\" | <%= config.bin %> <%= command.id %> http alice@example.org --password-stdin",
  ]

  static args = {
    backend: Args.string({required: true, description: `the backend to run: ${AUTH_METHODS.join(', ')}, or one an auth plugin provides`}),
    // ignoreStdin: a piped password must never be taken for the JID.
    jid: Args.string({required: false, ignoreStdin: true, description: 'bare JID of a test account'}),
  }

  static flags = {
    'password-stdin': flags.passwordStdin(),
    'token-stdin': Flags.boolean({description: 'read a JWT from the first line of standard input (jwt backend)', exclusive: ['password-stdin']}),
    host: Flags.string({description: 'host whose configuration to use when no JID is given (default: the first host)', helpValue: 'HOST'}),
    as: Flags.string({description: 'gssapi: the user the server runs as, whose access to the keytab is judged (default: the user running this command)', helpValue: 'USER'}),
    ccache: Flags.string({description: 'gssapi: a client credential cache (after kinit) for a full exchange against our acceptor', helpValue: 'FILE:PATH'}),
  }

  async run(): Promise<BackendDiagnosis> {
    const {args, flags: f} = await this.parse(TestAuth)
    // Backends of installed auth plugins (http, …) count too; a broken plugin is named, not fatal.
    const {loadAuthPlugins} = await import('../../src/plugins/loader.js')
    const plugins = await loadAuthPlugins({config: this.config})
    const {requireAuthMethod} = await import('../../src/plugins/methods.js')
    requireAuthMethod(args.backend, plugins)
    // A diagnosis creates nothing: no data directory, store or secret.
    const context = await this.accounts({create: false, orAbsent: true})
    const account = args.jid === undefined ? undefined : resolveAccount(context.config, args.jid)
    if (account && f.host !== undefined && context.config.requireHost(f.host) !== account.host) {
      throw new UsageError(`--host ${f.host} differs from the host of ${account.jid}`, 'drop --host: the JID names the host')
    }

    const host = account?.host ?? (f.host === undefined ? context.config.hosts[0] : context.config.requireHost(f.host))
    let password: string | undefined
    let token: string | undefined
    if (f['token-stdin']) token = await readStdinLine()
    else if (f['password-stdin']) password = await readStdinLine()
    else if (account && isInteractive()) password = await this.password({stdin: false, confirm: false, prompt: args.backend === 'jwt' ? 'Token' : 'Password'})
    if ((password !== undefined || token !== undefined) && !account) throw new UsageError('a password or token needs a JID to go with it', 'add the JID of the test account')
    if (args.backend === 'jwt') token ??= password

    const {diagnoseBackend} = await import('../../src/auth/diagnose/index.js')
    const {resolveUser} = await import('../../src/system.js')
    const {renderDiagnosis} = await import('../../src/auth/diagnose/render.js')
    const diagnosis = await diagnoseBackend(args.backend, {
      config: context.config,
      store: context.store,
      host,
      ...(account ? {username: account.username} : {}),
      ...(password === undefined ? {} : {password}),
      ...(token === undefined ? {} : {token}),
      ...(f.as === undefined ? {} : {as: resolveUser(f.as)}),
      ...(f.ccache === undefined ? {} : {ccache: f.ccache.includes(':') ? f.ccache : `FILE:${f.ccache}`}),
    })
    this.log(renderDiagnosis(diagnosis))
    this.setExitStatus(exitStatusOf(diagnosis))
    return diagnosis
  }
}

export function exitStatusOf(diagnosis: Pick<BackendDiagnosis, 'verdict' | 'problems'>): (typeof ExitCode)[keyof typeof ExitCode] {
  switch (diagnosis.verdict) {
    case 'unavailable': {
      return ExitCode.unavailable
    }

    case 'misconfigured': {
      return ExitCode.usage
    }

    case 'rejected':
    case 'disabled': {
      return ExitCode.false
    }

    default: {
      return diagnosis.problems > 0 ? ExitCode.false : ExitCode.ok
    }
  }
}
