import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../../src/cli/base-command.js'
import {ExitCode, XmppctlError} from '../../src/errors.js'
import type {InstallKind, ListedBackend} from '../../src/plugins/manage.js'

export interface PluginsInstallResult {
  name: string
  version: string | null
  kind: InstallKind
  source: string
  backends: ListedBackend[]
  /** Installed, but it cannot be used: why. */
  error?: string
}

export default class PluginsInstall extends BaseCommand<PluginsInstallResult> {
  static description = `Install an auth plugin from the npm registry, a directory, or a tarball

An auth plugin is an npm package that is also an oclif plugin and provides backends for auth_method (see docs/plugins.md). After installing, the backends it provides are listed; use them in auth_method, check the configuration with "xmppctl config check", try them with "xmppctl test-auth METHOD", and restart the server.

npm does the work: NPM_CONFIG_REGISTRY and XMPPCTL_NPM_REGISTRY choose the registry.`

  static examples = [
    '<%= config.bin %> <%= command.id %> xmppctl-auth-http',
    '<%= config.bin %> <%= command.id %> xmppctl-auth-http@0.1.0',
    '<%= config.bin %> <%= command.id %> ./examples/auth-http',
    '<%= config.bin %> <%= command.id %> ./xmppctl-auth-http-0.1.0.tgz --json',
  ]

  static aliases = ['plugins:add']

  static args = {
    plugin: Args.string({required: true, description: 'NAME[@VERSION] on the npm registry, a plugin directory, or a tarball made with "npm pack"'}),
  }

  static flags = {
    verbose: Flags.boolean({char: 'v', description: 'show npm\'s output'}),
  }

  async run(): Promise<PluginsInstallResult> {
    const {args, flags: f} = await this.parse(PluginsInstall)
    const {installTarget, listPlugins} = await import('../../src/plugins/manage.js')
    const {installedEntries, loadOclifConfig} = await import('../../src/plugins/loader.js')
    const target = installTarget(args.plugin)
    const before = new Map((await installedEntries(this.config)).map((entry) => [entry.name, entry]))
    const {commands} = await import('@oclif/plugin-plugins')
    try {
      await commands['plugins:install'].run([target.argument, f.verbose ? '--verbose' : '--silent'], this.config)
    } catch (error) {
      const message = (error instanceof Error ? error.message : String(error)).split('\n')[0].replace(/^Error: /, '')
      const offline = /E(NOTFOUND|AI_AGAIN|CONNREFUSED|TIMEDOUT)|network/i.test(message)
      // plugin-plugins removes a plugin of the same name when an install fails: say so, and how to get it back.
      const now = new Set((await installedEntries(this.config)).map((entry) => entry.name))
      for (const [name, entry] of before) {
        if (!now.has(name)) this.note(`the failed install removed the installed ${name}; reinstall it with "xmppctl plugins install ${entry.url?.replace(/^file:/, '') ?? name}"`)
      }

      throw new XmppctlError('plugin-install-failed', `cannot install ${args.plugin}: ${message}`, {
        hint: offline ? 'the npm registry could not be reached: install from a directory or a tarball, or set NPM_CONFIG_REGISTRY' : 'run again with --verbose to see npm\'s output',
        exitCode: offline ? ExitCode.unavailable : ExitCode.usage,
        cause: error,
      })
    }

    // plugin-plugins installed into a Config of its own: look at the plugins afresh.
    const config = await loadOclifConfig(this.config.root)
    const after = await installedEntries(config)
    const entry =
      after.find((candidate) => !before.has(candidate.name)) ??
      after.find((candidate) => candidate.url === target.argument) ??
      after.find((candidate) => candidate.name === args.plugin.replace(/(?<!^)@.*$/, ''))
    if (!entry) throw new XmppctlError('plugin-install-failed', `npm installed ${args.plugin}, but it is not in the plugin list`, {hint: 'see "xmppctl plugins list"'})
    const listed = (await listPlugins(config)).find((plugin) => plugin.name === entry.name)
    const result: PluginsInstallResult = {
      name: entry.name,
      version: listed?.version ?? null,
      kind: target.kind,
      source: listed?.source ?? target.argument,
      backends: listed?.backends ?? [],
      ...(listed?.error ? {error: listed.error} : {}),
    }
    if (result.error) {
      this.note(`${result.name} is installed but failed to load: ${result.error}`)
    } else if (result.backends.length === 0) {
      this.note(`${result.name} provides no auth backends: it is not an xmppctl auth plugin`)
    }

    const provides = result.backends.length > 0 ? `; auth_method: ${result.backends.map((backend) => backend.method).join(', ')}` : ''
    this.log(`installed ${result.name} ${result.version ?? ''} from ${result.source}${provides}`.replace('  ', ' '))
    return result
  }
}
