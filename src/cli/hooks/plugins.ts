/**
 * oclif `prerun` hook of xmppctl itself (package.json `oclif.hooks.prerun`):
 * before any command runs, the backends of installed auth plugins are loaded,
 * so that every command validates `auth_method` and plugin keys the same way
 * and the server (`start --foreground` is a command too) can build them. A
 * plugin that fails is named with its error on stderr, and the command runs.
 */
import type {Hook} from '@oclif/core'

import {stderrColour} from '../output.js'

const hook: Hook<'prerun'> = async function (options) {
  const id = options.Command?.id ?? ''
  // plugins install|uninstall|list load (or must not load) plugins themselves.
  if (id === 'plugins' || id.startsWith('plugins:')) return
  // Only xmppctl and its core plugins: nothing to load, and every command starts sooner for it.
  if (options.config.getPluginsList().every((plugin) => plugin.type === 'core')) return
  const {loadAuthPlugins} = await import('../../plugins/loader.js')
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
