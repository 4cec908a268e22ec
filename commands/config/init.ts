import {Flags} from '@oclif/core'

import {BaseCommand} from '../../src/cli/base-command.js'
import {flags} from '../../src/cli/flags.js'
import {isInteractive} from '../../src/cli/prompts.js'
import {configFilePath} from '../../src/config/index.js'
import {type InitAnswers, type InitResult, writeConfigFile} from '../../src/config/init.js'
import {SCRAM_HASH_NAMES, defaultSettings} from '../../src/config/schema.js'

export default class ConfigInit extends BaseCommand<InitResult> {
  static description = `Write a first configuration file

On a terminal, asks for whatever the flags did not give: hosts, data directory, password format and SCRAM hashes. Without a terminal it uses the flags and the defaults. Writes to --config (default ./xmppctl.yml), mode 0600, and never replaces an existing file without --force.`

  static examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --host example.org --host example.net --data-dir /var/lib/xmppctl --scram-hash sha256 --scram-hash sha512',
  ]

  static flags = {
    host: Flags.string({description: 'a virtual host to serve (repeatable)', multiple: true, helpValue: 'HOST'}),
    'data-dir': Flags.string({description: 'directory for the account store, certificates and pid file', helpValue: 'DIR'}),
    'password-format': Flags.string({description: 'how passwords are stored', options: ['scram', 'plain']}),
    'scram-hash': Flags.string({description: 'SCRAM hash to store for every account (repeatable)', multiple: true, options: [...SCRAM_HASH_NAMES]}),
    force: flags.force('replace an existing configuration file'),
  }

  async run(): Promise<InitResult> {
    const {flags: f} = await this.parse(ConfigInit)
    const {file} = configFilePath(f.config)
    const defaults = defaultSettings()
    const given: Partial<InitAnswers> = {
      hosts: f.host,
      dataDir: f['data-dir'],
      passwordFormat: f['password-format'] as InitAnswers['passwordFormat'] | undefined,
      scramHashes: f['scram-hash'] as InitAnswers['scramHashes'] | undefined,
    }
    const answers = isInteractive() ? await ask(given, defaults) : {
      hosts: given.hosts ?? defaults.hosts,
      dataDir: given.dataDir ?? defaults.data_dir,
      passwordFormat: given.passwordFormat ?? defaults.auth_password_format,
      scramHashes: given.scramHashes ?? defaults.auth_scram_hash,
    }
    const result = writeConfigFile(file, answers, f.force)
    this.log(`wrote ${result.file}; check it with "xmppctl config check"`)
    return result
  }
}

async function ask(given: Partial<InitAnswers>, defaults: ReturnType<typeof defaultSettings>): Promise<InitAnswers> {
  const {checkbox, input, select} = await import('@inquirer/prompts')
  const context = {output: process.stderr}
  const hosts =
    given.hosts ??
    (await input({message: 'Hosts to serve (comma-separated)', default: defaults.hosts.join(', '), validate: (text) => text.trim() !== '' || 'name at least one host'}, context))
      .split(',')
      .map((host) => host.trim())
      .filter(Boolean)
  const dataDir = given.dataDir ?? (await input({message: 'Data directory', default: defaults.data_dir}, context))
  const passwordFormat =
    given.passwordFormat ??
    (await select<InitAnswers['passwordFormat']>(
      {
        message: 'Password storage',
        choices: [
          {value: 'scram', name: 'scram: salted SCRAM credentials (recommended)'},
          {value: 'plain', name: 'plain: plaintext (only for legacy auth mechanisms)'},
        ],
      },
      context,
    ))
  const scramHashes =
    given.scramHashes ??
    (passwordFormat === 'scram'
      ? await checkbox<InitAnswers['scramHashes'][number]>(
          {
            message: 'SCRAM hashes to store',
            choices: SCRAM_HASH_NAMES.map((hash) => ({value: hash, checked: defaults.auth_scram_hash.includes(hash)})),
            required: true,
          },
          context,
        )
      : defaults.auth_scram_hash)
  return {hosts, dataDir, passwordFormat, scramHashes}
}
