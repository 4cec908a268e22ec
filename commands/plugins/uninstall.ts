import {Args} from '@oclif/core'

import {BaseCommand} from '../../src/cli/base-command.js'
import {XmppctlError} from '../../src/errors.js'

export interface PluginsUninstallResult {
  name: string
  /** The auth_method values it provided: a configuration using them no longer validates. */
  backends: string[]
}

export default class PluginsUninstall extends BaseCommand<PluginsUninstallResult> {
  static description = `Remove an installed plugin

A configuration whose auth_method uses a backend of the plugin no longer validates afterwards; restart the server after changing it.`

  static examples = ['<%= config.bin %> <%= command.id %> xmppctl-auth-http', '<%= config.bin %> <%= command.id %> xmppctl-auth-http --json']

  static aliases = ['plugins:remove']

  static args = {
    plugin: Args.string({required: true, description: 'the plugin\'s package name, as "xmppctl plugins list" shows it'}),
  }

  async run(): Promise<PluginsUninstallResult> {
    const {args} = await this.parse(PluginsUninstall)
    const {installedEntries, loadAuthPlugins} = await import('../../src/plugins/loader.js')
    const entries = await installedEntries(this.config)
    const entry = entries.find((candidate) => candidate.name === args.plugin)
    if (!entry) {
      throw new XmppctlError('plugin-not-installed', `${args.plugin} is not installed`, {
        hint: entries.length > 0 ? `installed: ${entries.map((candidate) => candidate.name).join(', ')}` : 'no plugins are installed',
      })
    }

    const registry = await loadAuthPlugins({config: this.config})
    const backends = [...registry.backends.values()].filter((backend) => backend.plugin.name === entry.name).map((backend) => backend.method)
    const {commands} = await import('@oclif/plugin-plugins')
    await commands['plugins:uninstall'].run([entry.name], this.config)
    this.log(`uninstalled ${entry.name}${backends.length > 0 ? ` (it provided auth_method ${backends.join(', ')})` : ''}`)
    return {name: entry.name, backends}
  }
}
