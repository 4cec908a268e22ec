import {type Configuration, ConfigProblemsError, type HostSettings, type Settings} from '../../src/config/index.js'
import {SERVER_WIDE_KEYS} from '../../src/config/schema.js'
import {BaseCommand} from '../../src/cli/base-command.js'
import {formatRecord, stderrColour, stdoutColour} from '../../src/cli/output.js'
import type {Interfaces} from '@oclif/core'

export interface ConfigCheckResult {
  file: string | null
  valid: true
  dataDir: string
  settings: Settings
  hosts: Record<string, HostSettings>
  /** auth_method values that installed auth plugins provide, and which plugin. */
  plugins: Array<{method: string; plugin: string; version: string}>
}

export default class ConfigCheck extends BaseCommand<ConfigCheckResult> {
  static description = `Validate the configuration and print the effective settings of every host

Every problem is reported with file, line and column and the allowed values; exit 2 when there is any.`

  static examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> -c /etc/xmppctl/xmppctl.yml --json']

  async run(): Promise<ConfigCheckResult> {
    await this.parse(ConfigCheck)
    // auth_method values and keys of installed auth plugins are valid too; a broken plugin is named, not fatal.
    const {loadAuthPlugins} = await import('../../src/plugins/loader.js')
    const registry = await loadAuthPlugins({config: this.config})
    const config = await this.loadConfiguration()
    const used = new Set(config.hosts.flatMap((host) => config.forHost(host).auth_method))
    const plugins = [...registry.backends.values()]
      .filter((backend) => used.has(backend.method))
      .map((backend) => ({method: backend.method, plugin: backend.plugin.name, version: backend.plugin.version}))
    const result = {...describe(config), plugins}
    this.log(stdoutColour.green(`${config.file ?? 'built-in defaults'}: valid`))
    this.log(`data_dir: ${result.dataDir}`)
    this.log(formatRecord(SERVER_WIDE_KEYS.map((key) => [key, render(config.settings[key])])))
    for (const {method, plugin, version} of plugins) this.log(`auth_method ${method}: auth plugin ${plugin} ${version}`)
    for (const [host, settings] of Object.entries(result.hosts)) {
      this.log(`\n${stdoutColour.bold(host)}`)
      this.log(formatRecord(Object.entries(settings).filter(([key]) => key !== 'host').map(([key, value]) => [key, render(value)])))
    }

    return result
  }

  protected async catch(error: Interfaces.CommandError): Promise<void> {
    if (!(error instanceof ConfigProblemsError)) return super.catch(error)
    process.exitCode = error.exitCode
    const problems = error.problems.map(({location, message, hint}) => ({location, message, ...(hint ? {hint} : {})}))
    if (this.jsonEnabled()) {
      this.logJson({error: {code: error.code, message: error.message, hint: error.hint, problems}})
      return
    }

    for (const problem of problems) {
      process.stderr.write(`${stderrColour.red('error:')} ${problem.location}: ${problem.message}${problem.hint ? ` ${stderrColour.dim(`(${problem.hint})`)}` : ''}\n`)
    }
  }
}

function describe(config: Configuration): Omit<ConfigCheckResult, 'plugins'> {
  return {
    file: config.file ?? null,
    valid: true,
    dataDir: config.dataDir,
    settings: config.settings,
    hosts: Object.fromEntries(config.hosts.map((host) => [host, config.forHost(host)])),
  }
}

function render(value: unknown): string {
  if (Array.isArray(value)) return value.length === 0 ? '[]' : value.join(', ')
  return typeof value === 'string' ? value : JSON.stringify(value)
}
