import {type Configuration, ConfigProblemsError, type HostSettings, type Settings} from '../../src/config/index.js'
import {BaseCommand} from '../../src/cli/base-command.js'
import {formatRecord, stderrColour, stdoutColour} from '../../src/cli/output.js'
import type {Interfaces} from '@oclif/core'

export interface ConfigCheckResult {
  file: string | null
  valid: true
  dataDir: string
  settings: Settings
  hosts: Record<string, HostSettings>
}

export default class ConfigCheck extends BaseCommand<ConfigCheckResult> {
  static description = `Validate the configuration and print the effective settings of every host

Every problem is reported with file, line and column and the allowed values; exit 2 when there is any.`

  static examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> -c /etc/xmppctl/xmppctl.yml --json']

  async run(): Promise<ConfigCheckResult> {
    await this.parse(ConfigCheck)
    const config = await this.loadConfiguration()
    const result = describe(config)
    this.log(stdoutColour.green(`${config.file ?? 'built-in defaults'}: valid`))
    this.log(`data_dir: ${result.dataDir}`)
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

function describe(config: Configuration): ConfigCheckResult {
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
