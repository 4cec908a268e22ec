/**
 * oclif `command_not_found` hook of xmppctl (package.json
 * `oclif.hooks.command_not_found`): a mistyped command gets one line naming
 * the closest command and exit 2, instead of oclif's "command user:ad not
 * found". Loaded with every command (scripts/bundle.js), so it imports what it
 * needs only when it runs.
 */
import type {Hook} from '@oclif/core'

const hook: Hook<'command_not_found'> = async function (options) {
  const {unknownCommandError} = await import('../unknown-command.js')
  const {printError, renderError} = await import('../base-command.js')
  const ids = options.config.commands.filter((command) => !command.hidden).flatMap((command) => [command.id, ...command.aliases])
  const rendered = renderError(unknownCommandError(options.id, ids))
  process.exitCode = rendered.exitCode
  printError(rendered, (options.argv ?? []).includes('--json'))
}

export default hook
