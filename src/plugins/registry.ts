/**
 * The auth backends that installed plugins provide, as loaded in this
 * process. Loading is asynchronous (oclif hooks, src/plugins/loader.ts);
 * configuration validation and backend creation are synchronous and read
 * this. Until plugins are loaded it is empty, so only xmppctl's own methods
 * are valid: a library caller that wants plugins calls `loadAuthPlugins()`.
 */
import type {AuthBackendDefinition, PluginKeySpec} from './api.js'

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

const STATE = Symbol.for('xmppctl.plugins.registry')
const empty: PluginRegistry = {loaded: false, backends: new Map(), failures: []}

type Holder = {[STATE]?: PluginRegistry}

/** The registry of this process (kept on globalThis: one even if this module were loaded twice). */
export function pluginRegistry(): PluginRegistry {
  return (globalThis as Holder)[STATE] ?? empty
}

export function setPluginRegistry(registry: PluginRegistry | undefined): void {
  ;(globalThis as Holder)[STATE] = registry
}

export function pluginBackend(method: string): RegisteredBackend | undefined {
  return pluginRegistry().backends.get(method)
}

/** Every key of every loaded plugin, for validation and per-host resolution. */
export function pluginKeys(): Record<string, PluginKeySpec> {
  const keys: Record<string, PluginKeySpec> = {}
  for (const backend of pluginRegistry().backends.values()) Object.assign(keys, backend.keys)
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
export function installHint(known: (typeof KNOWN_PLUGINS)[number] | undefined): string | undefined {
  if (!known) return undefined
  const failure = pluginRegistry().failures.find((candidate) => candidate.plugin === known.package)
  if (failure) return `the auth plugin ${known.package} is installed but failed to load: ${failure.error}; see "xmppctl plugins list"`
  return `install the auth plugin that provides it: xmppctl plugins install ${known.package}`
}
