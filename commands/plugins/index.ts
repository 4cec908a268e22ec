import {Flags} from '@oclif/core'

import {BaseCommand} from '../../src/cli/base-command.js'
import {formatTable, stderrColour} from '../../src/cli/output.js'
import type {ListedPlugin} from '../../src/plugins/manage.js'

export interface PluginsListResult {
  plugins: ListedPlugin[]
}

export default class PluginsList extends BaseCommand<PluginsListResult> {
  static description = `List installed plugins: name, version, where each came from, and the auth backends it provides

A plugin that fails to load is listed with its error; xmppctl and the server run without it. Installed plugins live in oclif's data directory (XDG_DATA_HOME/xmppctl, or ~/.local/share/xmppctl).`

  static examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --json', '<%= config.bin %> <%= command.id %> --core']

  static aliases = ['plugins:list']

  static flags = {
    core: Flags.boolean({description: 'also list the plugins bundled with xmppctl'}),
  }

  async run(): Promise<PluginsListResult> {
    const {flags: f} = await this.parse(PluginsList)
    const {listPlugins} = await import('../../src/plugins/manage.js')
    const plugins = await listPlugins(this.config, {core: f.core})
    if (plugins.length === 0) {
      this.log('no plugins installed (install one with "xmppctl plugins install NAME|PATH|TARBALL")')
      return {plugins}
    }

    this.log(
      formatTable(
        ['NAME', 'VERSION', 'SOURCE', 'BACKENDS'],
        plugins.map((plugin) => [plugin.name, plugin.version ?? '-', plugin.source, plugin.error ? 'FAILED' : plugin.backends.map((backend) => backend.method).join(', ') || '-']),
      ),
    )
    for (const plugin of plugins.filter((candidate) => candidate.error)) {
      if (!this.jsonEnabled()) process.stderr.write(`${stderrColour.red('error:')} ${plugin.name} failed to load: ${plugin.error}\n`)
    }

    return {plugins}
  }
}
