import {Flags} from '@oclif/core'

import {resolveAccount} from '../../src/accounts/index.js'
import type {HostReport} from '../../src/auth/diagnose/index.js'
import {BaseCommand} from '../../src/cli/base-command.js'
import {flags} from '../../src/cli/flags.js'
import {isInteractive, readStdinLine} from '../../src/cli/prompts.js'
import {ExitCode, type ExitStatus} from '../../src/errors.js'
import {exitStatusOf} from './index.js'

export interface TestAuthAllResult {
  hosts: HostReport[]
}

export default class TestAuthAll extends BaseCommand<TestAuthAllResult> {
  static description = `Run every configured backend of every host, and show the mechanisms each host would offer and why

With --jid, the test account is tried on the backends of its host. The offer is shown for a TLS 1.3 connection, a TLS 1.2 one and one without TLS.

Exit status: the worst of the backends' (3 unavailable, 2 misconfigured, 1 rejected or a problem found, 0 all fine).`

  static examples = ['<%= config.bin %> <%= command.id %>', "printf '%s\\n' \"$PASSWORD\" | <%= config.bin %> <%= command.id %> --jid alice@example.org --password-stdin"]

  static flags = {
    jid: Flags.string({description: 'bare JID of a test account, tried on the backends of its host', helpValue: 'JID'}),
    'password-stdin': flags.passwordStdin(),
    'token-stdin': Flags.boolean({description: 'read a JWT for the jwt backend from standard input', exclusive: ['password-stdin']}),
  }

  async run(): Promise<TestAuthAllResult> {
    const {flags: f} = await this.parse(TestAuthAll)
    const {loadAuthPlugins} = await import('../../src/plugins/loader.js')
    await loadAuthPlugins({config: this.config})
    // A diagnosis creates nothing: no data directory, store or secret.
    const context = await this.accounts({create: false, orAbsent: true})
    const account = f.jid === undefined ? undefined : resolveAccount(context.config, f.jid)
    let password: string | undefined
    let token: string | undefined
    if (account) {
      if (f['token-stdin']) token = await readStdinLine()
      else if (f['password-stdin']) password = await readStdinLine()
      else if (isInteractive()) password = await this.password({stdin: false, confirm: false})
    }

    const {diagnoseAll} = await import('../../src/auth/diagnose/index.js')
    const {renderHostReport} = await import('../../src/auth/diagnose/render.js')
    const hosts = await diagnoseAll(
      context.config,
      context.store,
      account ? {host: account.host, username: account.username, ...(password === undefined ? {} : {password}), ...(token ?? password ? {token: token ?? password} : {})} : undefined,
    )
    this.log(hosts.map((report) => renderHostReport(report)).join('\n\n'))
    const order: ExitStatus[] = [ExitCode.ok, ExitCode.false, ExitCode.usage, ExitCode.unavailable, ExitCode.internal]
    let status: ExitStatus = ExitCode.ok
    for (const report of hosts) {
      for (const backend of report.backends) {
        const own = exitStatusOf(backend)
        if (order.indexOf(own) > order.indexOf(status)) status = own
      }
    }

    this.setExitStatus(status)
    return {hosts}
  }
}
