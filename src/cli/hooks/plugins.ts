/**
 * oclif `prerun` hook of xmppctl itself (package.json `oclif.hooks.prerun`):
 * before any command runs, the backends of installed auth plugins are loaded,
 * so that every command validates `auth_method` and plugin keys the same way
 * and the server (`start --foreground` is a command too) can build them. A
 * plugin that fails is named with its error on stderr, and the command runs.
 */
import type {Hook} from '@oclif/core'

import {loadAuthPlugins} from '../../plugins/loader.js'
import {stderrColour} from '../output.js'

const hook: Hook<'prerun'> = async function (options) {
  const id = options.Command?.id ?? ''
  // plugins install|uninstall|list load (or must not load) plugins themselves.
  if (id === 'plugins' || id.startsWith('plugins:')) return
  let failures
  try {
    ;({failures} = await loadAuthPlugins({config: options.config}))
  } catch (error) {
    failures = [{plugin: '(plugins)', error: error instanceof Error ? error.message : String(error)}]
  }

  for (const failure of failures) {
    process.stderr.write(`${stderrColour.yellow('warning:')} auth plugin ${failure.plugin} failed to load: ${failure.error} ${stderrColour.dim('(see "xmppctl plugins list")')}\n`)
  }
}

export default hook
