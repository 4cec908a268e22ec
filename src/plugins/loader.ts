/**
 * Finds the auth backends of installed plugins through oclif's plugin list:
 * every plugin with an `auth-backends` hook is asked, its answer checked, and
 * the result returned as a registry (src/config/plugins.ts) that the CLI
 * passes to configuration loading, where validation and backend creation
 * find it. A plugin that fails —
 * cannot be loaded, throws, hangs, answers nonsense — is recorded with its
 * error and skipped; it never stops the CLI or the server.
 */
import {readFile} from 'node:fs/promises'
import path from 'node:path'

import type {Interfaces} from '@oclif/core'

type Config = Interfaces.Config

import {AUTH_METHODS, CONFIG_KEYS} from '../config/schema.js'
import {projectRoot} from '../paths.js'
import {errorText} from '../auth/backends/plugin.js'
import type {AuthBackendDefinition, AuthBackendsHookOptions, PluginApiVersion, PluginValueSpec} from './api.js'
import {NO_PLUGINS, type PluginFailure, type PluginRegistry, type RegisteredBackend} from '../config/plugins.js'

/** The oclif hook event auth plugins answer. */
export const AUTH_BACKENDS_HOOK = 'auth-backends'
export const API_VERSIONS: readonly PluginApiVersion[] = [1]
/** How long one plugin's hook may take before it counts as failed. */
const HOOK_TIMEOUT_MS = 10_000

const METHOD = /^[a-z][a-z0-9_-]{0,31}$/
const KEY = /^[a-z][a-z0-9_]{0,63}$/

export interface LoadOptions {
  /** oclif's Config of the running command; loaded from `root` when absent (the server, tests). */
  config?: Config
  root?: string
  /** Look again even if this process already did (after `plugins install`). */
  force?: boolean
}

/** oclif's Config for code that runs outside a command. */
export async function loadOclifConfig(root = projectRoot()): Promise<Config> {
  const oclif = await import('@oclif/core')
  return oclif.Config.load({root})
}

const LOADED = Symbol.for('xmppctl.plugins.loaded')
type Holder = {[LOADED]?: PluginRegistry}

/**
 * What `loadAuthPlugins` found in this process, or NO_PLUGINS before. Kept on
 * globalThis so that oclif's prerun hook and the command it precedes share
 * one answer even if this module were loaded twice (bundle and sources).
 */
export function loadedAuthPlugins(): PluginRegistry {
  return (globalThis as Holder)[LOADED] ?? NO_PLUGINS
}

/** Forgets what this process loaded (tests, and after `plugins uninstall`). */
export function forgetAuthPlugins(): void {
  ;(globalThis as Holder)[LOADED] = undefined
}

/** Loads (once per process) the backends of every installed auth plugin. */
export async function loadAuthPlugins(options: LoadOptions = {}): Promise<PluginRegistry> {
  const current = loadedAuthPlugins()
  if (current.loaded && !options.force) return current
  const config = options.config ?? (await loadOclifConfig(options.root))
  const registry = await askPlugins(config)
  ;(globalThis as Holder)[LOADED] = registry
  return registry
}

async function askPlugins(config: Config): Promise<PluginRegistry> {
  const backends = new Map<string, RegisteredBackend>()
  const failures: PluginFailure[] = []
  const hookOptions: AuthBackendsHookOptions = {xmppctl: {version: config.version, apiVersions: API_VERSIONS}}
  let result: Awaited<ReturnType<Config['runHook']>>
  try {
    result = await config.runHook(AUTH_BACKENDS_HOOK, hookOptions, HOOK_TIMEOUT_MS, true)
  } catch (error) {
    return {loaded: true, backends, failures: [{plugin: '(oclif)', error: errorText(error)}]}
  }

  for (const {plugin, error} of result.failures) {
    failures.push({plugin: plugin.name, version: plugin.version, error: hookError(error)})
  }

  // Hooks answer concurrently: register in name order, so that which of two clashing plugins wins is stable.
  const successes = [...result.successes].sort((a, b) => a.plugin.name.localeCompare(b.plugin.name))
  const keyOwners = new Map<string, string>(Object.keys(CONFIG_KEYS).map((key) => [key, 'xmppctl']))
  keyOwners.set('host_config', 'xmppctl')
  for (const {plugin, result: contribution} of successes) {
    const problem = checkContribution(contribution, backends, keyOwners)
    if (problem) {
      failures.push({plugin: plugin.name, version: plugin.version, error: problem})
      continue
    }

    for (const definition of (contribution as {backends: AuthBackendDefinition[]}).backends) {
      for (const key of Object.keys(definition.keys ?? {})) keyOwners.set(key, plugin.name)
      backends.set(definition.method, {
        method: definition.method,
        description: String(definition.description ?? ''),
        plugin: {name: plugin.name, version: plugin.version},
        keys: {...definition.keys},
        requiredKeys: [...(definition.requiredKeys ?? [])],
        definition,
      })
    }
  }

  for (const unloaded of await unloadedPlugins(config)) failures.push(unloaded)
  return {loaded: true, backends, failures}
}

function hookError(error: unknown): string {
  const text = errorText(error)
  return /^Timed out after \d+ ms/.test(text) ? `its auth-backends hook did not answer within ${HOOK_TIMEOUT_MS / 1000} s` : text
}

/** What is wrong with a hook's answer, or undefined when it can be used. Nothing is registered from a plugin with a problem. */
export function checkContribution(
  contribution: unknown,
  taken: ReadonlyMap<string, RegisteredBackend>,
  keyOwners: ReadonlyMap<string, string>,
): string | undefined {
  if (!contribution || typeof contribution !== 'object') return 'its auth-backends hook returned nothing (it must return {apiVersion, backends})'
  const {apiVersion, backends} = contribution as {apiVersion?: unknown; backends?: unknown}
  if (!API_VERSIONS.includes(apiVersion as PluginApiVersion)) {
    return `it was written for plugin API version ${JSON.stringify(apiVersion)}; this xmppctl understands ${API_VERSIONS.join(', ')} (update the plugin or xmppctl)`
  }

  if (!Array.isArray(backends) || backends.length === 0) return 'its auth-backends hook returned no backends'
  const methods = new Set<string>()
  const keys = new Set<string>()
  for (const definition of backends as AuthBackendDefinition[]) {
    const method = definition?.method
    if (typeof method !== 'string' || !METHOD.test(method)) return `a backend's method ${JSON.stringify(method)} is not a lower-case name ([a-z][a-z0-9_-]*)`
    if ((AUTH_METHODS as readonly string[]).includes(method)) return `it provides the method ${method}, which is xmppctl's own`
    const owner = taken.get(method)
    if (owner) return `it provides the method ${method}, which the plugin ${owner.plugin.name} already provides`
    if (methods.has(method)) return `it provides the method ${method} twice`
    methods.add(method)
    if (typeof definition.create !== 'function') return `the ${method} backend has no create() function`
    if (definition.diagnose !== undefined && typeof definition.diagnose !== 'function') return `the ${method} backend's diagnose is not a function`
    for (const [key, spec] of Object.entries(definition.keys ?? {})) {
      if (!KEY.test(key)) return `the ${method} backend's key ${JSON.stringify(key)} is not a lower-case name ([a-z][a-z0-9_]*)`
      const keyOwner = keyOwners.get(key)
      if (keyOwner) return `the ${method} backend's key ${key} is already used by ${keyOwner === 'xmppctl' ? 'xmppctl' : `the plugin ${keyOwner}`}`
      if (keys.has(key)) return `the key ${key} is declared twice`
      keys.add(key)
      const specProblem = checkSpec(spec?.spec)
      if (specProblem) return `the ${method} backend's key ${key}: ${specProblem}`
      if (typeof spec.description !== 'string' || spec.description === '') return `the ${method} backend's key ${key} has no description`
      if (spec.check !== undefined && typeof spec.check !== 'function') return `the ${method} backend's key ${key} has a check that is not a function`
    }

    for (const key of definition.requiredKeys ?? []) {
      if (!definition.keys || !(key in definition.keys)) return `the ${method} backend requires the key ${key} but does not declare it`
    }
  }

  return undefined
}

function checkSpec(spec: PluginValueSpec | undefined): string | undefined {
  switch (spec?.type) {
    case 'string':
    case 'integer':
    case 'boolean': {
      return undefined
    }

    case 'enum': {
      return Array.isArray(spec.values) && spec.values.length > 0 && spec.values.every((value) => typeof value === 'string') ? undefined : 'an enum needs a list of string values'
    }

    case 'list': {
      return checkSpec(spec.of)
    }

    default: {
      return `the type ${JSON.stringify((spec as {type?: unknown} | undefined)?.type)} is not one of string, integer, boolean, enum, list`
    }
  }
}

/** An installed plugin as oclif's user package.json in the data directory records it. */
export interface InstalledEntry {
  name: string
  type: 'user' | 'link'
  /** `file:/path`, a tarball path or a git URL for non-registry installs. */
  url?: string
  tag?: string
  root?: string
}

/** The plugins `plugins install`/`link` recorded, loaded or not. */
export async function installedEntries(config: Config): Promise<InstalledEntry[]> {
  let pjson: {oclif?: {plugins?: unknown[]}; dependencies?: Record<string, string>}
  try {
    pjson = JSON.parse(await readFile(path.join(config.dataDir, 'package.json'), 'utf8'))
  } catch {
    return []
  }

  const entries: InstalledEntry[] = []
  for (const entry of pjson.oclif?.plugins ?? []) {
    if (typeof entry === 'string') entries.push({name: entry, type: 'user'})
    else if (entry && typeof entry === 'object' && typeof (entry as InstalledEntry).name === 'string') {
      const {name, type, url, tag, root} = entry as InstalledEntry
      entries.push({name, type: type === 'link' ? 'link' : 'user', ...(url ? {url} : {}), ...(tag ? {tag} : {}), ...(root ? {root} : {})})
    }
  }

  return entries
}

/** Installed plugins oclif could not load, each with the error loading it gives. */
export async function unloadedPlugins(config: Config): Promise<PluginFailure[]> {
  const failures: PluginFailure[] = []
  for (const entry of await installedEntries(config)) {
    if (config.plugins.has(entry.name)) continue
    const {Plugin} = await import('@oclif/core')
    const plugin = new Plugin({
      name: entry.name,
      type: entry.type,
      root: entry.type === 'link' && entry.root ? entry.root : path.join(config.dataDir, 'package.json'),
    })
    try {
      await plugin.load()
      failures.push({plugin: entry.name, version: plugin.version, error: 'oclif did not load it (run with DEBUG=* to see why)'})
    } catch (error) {
      const text = errorText(error)
      failures.push({
        plugin: entry.name,
        error: text.startsWith('could not find package.json')
          ? `its files are missing${entry.url ? ` (installed from ${entry.url.replace(/^file:/, '')})` : ''}: reinstall it, or remove it with "xmppctl plugins uninstall ${entry.name}"`
          : text,
      })
    }
  }

  return failures
}
