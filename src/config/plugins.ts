/**
 * The auth backends that installed plugins provide. src/plugins/loader.ts
 * finds them (asynchronously, through oclif's hooks); the caller then hands
 * the registry to `loadConfig`/`parseConfig`, which validate the plugins'
 * keys and methods with it and keep it on the Configuration, where backend
 * creation (src/auth) finds it. Nothing here is global: a configuration
 * parsed without a registry knows xmppctl's own methods only.
 */
import type {AuthBackendDefinition, PluginKeySpec} from '../plugins/api.js'

/** One backend a loaded plugin provides. */
export interface RegisteredBackend {
  method: string
  description: string
  plugin: {name: string; version: string}
  keys: Record<string, PluginKeySpec>
  requiredKeys: readonly string[]
  definition: AuthBackendDefinition
}

/** A plugin that could not be used, with its error (never fatal). */
export interface PluginFailure {
  plugin: string
  version?: string
  error: string
}

export interface PluginRegistry {
  /** Whether installed plugins were looked for in this process. */
  loaded: boolean
  backends: ReadonlyMap<string, RegisteredBackend>
  failures: readonly PluginFailure[]
}

/**
 * Plugins that xmppctl knows by name, so that a configuration using their
 * method (or their keys) without them installed says what to install.
 */
export const KNOWN_PLUGINS: ReadonlyArray<{method: string; package: string; keyPrefix: string}> = [
  {method: 'http', package: 'xmppctl-auth-http', keyPrefix: 'http_auth_'},
]

/** No plugins: xmppctl's own methods only. */
export const NO_PLUGINS: PluginRegistry = Object.freeze({loaded: false, backends: new Map<string, RegisteredBackend>(), failures: []})

/** Every key of every loaded plugin, for validation and per-host resolution. */
export function pluginKeys(registry: PluginRegistry): Record<string, PluginKeySpec> {
  const keys: Record<string, PluginKeySpec> = {}
  for (const backend of registry.backends.values()) Object.assign(keys, backend.keys)
  return keys
}

export function knownPluginForMethod(method: string): (typeof KNOWN_PLUGINS)[number] | undefined {
  return KNOWN_PLUGINS.find((known) => known.method === method)
}

export function knownPluginForKey(key: string): (typeof KNOWN_PLUGINS)[number] | undefined {
  return KNOWN_PLUGINS.find((known) => key.startsWith(known.keyPrefix))
}

/**
 * The hint for a method or key that no loaded plugin provides: install the
 * known package, or why the installed one is not usable.
 */
export function installHint(known: (typeof KNOWN_PLUGINS)[number] | undefined, registry: PluginRegistry): string | undefined {
  if (!known) return undefined
  const failure = registry.failures.find((candidate) => candidate.plugin === known.package)
  if (failure) return `the auth plugin ${known.package} is installed but failed to load: ${failure.error}; see "xmppctl plugins list"`
  return `install the auth plugin that provides it: xmppctl plugins install ${known.package}`
}
