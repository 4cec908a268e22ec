import {Flags} from '@oclif/core'

import {CONFIG_ENV} from '../config/index.js'

/** Flag builders shared by every command, so each flag is spelled one way everywhere. */
export const flags = {
  config: () =>
    Flags.string({
      char: 'c',
      description: 'configuration file (default: ./xmppctl.yml if present, else built-in defaults)',
      env: CONFIG_ENV,
      helpGroup: 'GLOBAL',
      helpValue: 'FILE',
    }),
  passwordStdin: () =>
    Flags.boolean({
      description: 'read the password from the first line of standard input instead of prompting',
    }),
  force: (description: string) => Flags.boolean({char: 'f', description}),
  /** An age ("30d") for purges of stored data; read it with parseDuration (src/cli/duration.ts), whose error is one line where oclif's parse errors span several. */
  olderThan: (description: string) => Flags.string({description, helpValue: 'DURATION'}),
  /** `--node NAME`: one cluster node this machine runs (a worker of cluster.workers, or the server itself). */
  node: (description: string) => Flags.string({description, helpValue: 'NAME'}),
}
