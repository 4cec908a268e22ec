import {AUTH_METHODS, UNSUPPORTED_AUTH_METHODS} from '../config/schema.js'
import {unsupportedHint} from '../config/validate.js'
import {didYouMean} from '../suggest.js'
import {UsageError} from '../errors.js'
import {type PluginRegistry, installHint, knownPluginForMethod} from '../config/plugins.js'

/** Every auth_method value usable now: xmppctl's own, then those of loaded plugins. */
export function availableAuthMethods(plugins: PluginRegistry): string[] {
  return [...AUTH_METHODS, ...plugins.backends.keys()]
}

/** `name` if it is an auth method xmppctl or a loaded plugin provides; else a usage error saying what to do. */
export function requireAuthMethod(name: string, plugins: PluginRegistry): string {
  const available = availableAuthMethods(plugins)
  if (available.includes(name)) return name
  const unsupported = UNSUPPORTED_AUTH_METHODS[name]
  if (unsupported) throw new UsageError(`${unsupported} authentication (${name}) is not supported by this version of xmppctl yet`, unsupportedHint())
  const known = knownPluginForMethod(name)
  if (known) throw new UsageError(`the ${name} backend is provided by the auth plugin ${known.package}, which is not loaded`, installHint(known, plugins))
  const suggestion = didYouMean(name, available)
  throw new UsageError(
    `unknown backend ${name} (known: ${available.join(', ')})`,
    suggestion ? `did you mean ${suggestion}?` : 'an auth plugin may provide it: see "xmppctl plugins list"',
  )
}
