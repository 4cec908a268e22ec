import {existsSync, readFileSync, statSync} from 'node:fs'
import path from 'node:path'
import {LineCounter, parseDocument} from 'yaml'

import {ConfigError, JidError, UnknownHostError, osErrorText} from '../errors.js'
import {normalizeDomain} from '../jid/index.js'
import {displayPath} from '../paths.js'
import {NO_PLUGINS, type PluginRegistry, pluginKeys} from './plugins.js'
import {CONFIG_KEYS, defaultSettings, type HostSettings, PER_HOST_KEYS, type Settings} from './schema.js'
import {type ConfigProblem, validateDocument} from './validate.js'

export {CLUSTER_KEYS, CONFIG_KEYS, STORE_KEYS, type HostSettings, type Settings} from './schema.js'
export type {ConfigProblem} from './validate.js'

export const DEFAULT_CONFIG_FILE = 'xmppctl.yml'
export const CONFIG_ENV = 'XMPPCTL_CONFIG'

/** Bounds the file we read: a configuration is a few kilobytes. */
const MAX_CONFIG_BYTES = 1024 * 1024

/** A validated configuration: global settings plus the per-host view. */
export class Configuration {
  readonly file: string | undefined
  readonly settings: Settings
  readonly hostOverrides: Readonly<Record<string, Partial<HostSettings>>>
  /** The auth plugins this configuration was validated with; backends of their methods are built from it. */
  readonly plugins: PluginRegistry

  constructor(file: string | undefined, settings: Settings, hostOverrides: Record<string, Partial<HostSettings>> = {}, plugins: PluginRegistry = NO_PLUGINS) {
    this.file = file
    this.settings = settings
    this.hostOverrides = hostOverrides
    this.plugins = plugins
  }

  get hosts(): readonly string[] {
    return this.settings.hosts
  }

  /** Absolute data directory; a relative one is relative to the configuration file's directory. */
  get dataDir(): string {
    return path.resolve(this.file ? path.dirname(this.file) : process.cwd(), this.settings.data_dir)
  }

  /** The host as configured (normalised), or a typed error listing the configured hosts. */
  requireHost(host: string): string {
    let normalized: string
    try {
      normalized = normalizeDomain(host)
    } catch {
      throw new UnknownHostError(host, this.hosts)
    }

    if (!this.hosts.includes(normalized)) throw new UnknownHostError(host, this.hosts)
    return normalized
  }

  /** The effective settings of one host: global values with its `host_config` overrides. */
  forHost(host: string): HostSettings {
    const normalized = this.requireHost(host)
    const effective: Record<string, unknown> = {host: normalized}
    // Keys of loaded auth plugins are per host too.
    for (const key of [...PER_HOST_KEYS, ...Object.keys(pluginKeys(this.plugins))]) {
      const value = (this.settings as unknown as Record<string, unknown>)[key]
      if (value !== undefined) effective[key] = value
    }

    return {...effective, ...this.hostOverrides[normalized]} as HostSettings
  }
}

/** Which file to read: the flag, then `XMPPCTL_CONFIG`, then `./xmppctl.yml` if present. */
export function configFilePath(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): {file: string; explicit: boolean} {
  const chosen = flag ?? env[CONFIG_ENV]
  if (chosen) return {file: path.resolve(chosen), explicit: true}
  return {file: path.resolve(DEFAULT_CONFIG_FILE), explicit: false}
}

/** Thrown when a file has problems; `problems` lists all of them, the message names the first. */
export class ConfigProblemsError extends ConfigError {
  readonly problems: ConfigProblem[]

  constructor(problems: ConfigProblem[]) {
    const [first] = problems
    // One hint, saying once where the others are: the count in the message as well ran two
    // parentheses into each other, each sending to "xmppctl config check".
    const others = `"xmppctl config check" lists all ${problems.length} problems`
    const hint = problems.length === 1 ? (first.hint ?? 'fix the file and run "xmppctl config check"') : `${first.hint ?? 'fix the file'}${first.hint?.endsWith('?') ? ' ' : '; '}${others}`
    super(first.message, {location: first.location, hint})
    this.problems = problems
  }
}

/**
 * Loads and validates a configuration. Without an explicit file and with no
 * `./xmppctl.yml`, the built-in defaults apply. `plugins`: the loaded auth
 * plugins (src/plugins/loader.ts), whose methods and keys become valid.
 */
export function loadConfig(flag?: string, env: NodeJS.ProcessEnv = process.env, plugins: PluginRegistry = NO_PLUGINS): Configuration {
  const {file, explicit} = configFilePath(flag, env)
  if (!explicit && !existsSync(file)) return new Configuration(undefined, defaultSettings(), {}, plugins)
  let text: string
  try {
    // The size first: reading a huge file (or a device) to find it too large would hang or run out of memory.
    if (statSync(file).size > MAX_CONFIG_BYTES) throw tooLarge(displayPath(file))
    text = readFileSync(file, 'utf8')
  } catch (error) {
    if (error instanceof ConfigError) throw error
    throw new ConfigError(`cannot read configuration file ${file}: ${osErrorText(error)}`, {
      hint: explicit ? 'check the path given with --config or XMPPCTL_CONFIG, or create it with "xmppctl config init"' : undefined,
    })
  }

  return parseConfig(text, file, plugins)
}

function tooLarge(display: string): ConfigError {
  return new ConfigError(`configuration file ${display} is larger than 1 MiB`, {hint: 'a configuration file is a few kilobytes; check the path'})
}

/** Parses and validates configuration text; `file` names it in error locations. */
export function parseConfig(text: string, file: string, plugins: PluginRegistry = NO_PLUGINS): Configuration {
  const display = displayPath(file)
  if (Buffer.byteLength(text) > MAX_CONFIG_BYTES) throw tooLarge(display)

  const lines = new LineCounter()
  const document = parseDocument(text, {lineCounter: lines, prettyErrors: false, uniqueKeys: true})
  const problems: ConfigProblem[] = []
  for (const error of document.errors) {
    // linePos is only filled in with prettyErrors; the offset always is.
    const position = error.linePos?.[0] ?? lines.linePos(error.pos[0])
    problems.push({
      location: position ? `${display}:${position.line}:${position.col}` : display,
      key: '(syntax)',
      message: `YAML syntax error: ${error.message.split('\n')[0]}`,
      hint: 'fix the YAML syntax (indentation, quotes, colons)',
    })
  }

  if (problems.length > 0) throw new ConfigProblemsError(problems)

  const validated = validateDocument(document.contents, display, lines, problems, plugins)
  const settings = {...defaultSettings(), ...pluginDefaults(plugins), ...validated.values} as Settings
  const hostLocation = (index: number): string => {
    const node = document.getIn(['hosts', index], true) as {range?: [number, number, number]} | undefined
    const position = node?.range ? lines.linePos(node.range[0]) : undefined
    return position ? `${display}:${position.line}:${position.col}` : display
  }

  settings.hosts = normalizeHosts(settings.hosts, hostLocation, problems)
  const c2sShaper = settings.shaper_rules.c2s_shaper
  if (!validated.invalid.has('shaper') && c2sShaper !== 'none' && !Object.hasOwn(settings.shaper, c2sShaper)) {
    const node = document.getIn(['shaper_rules', 'c2s_shaper'], true) as {range?: [number, number, number]} | undefined
    const position = node?.range ? lines.linePos(node.range[0]) : undefined
    problems.push({
      location: position ? `${display}:${position.line}:${position.col}` : display,
      key: 'shaper_rules.c2s_shaper',
      message: `shaper_rules.c2s_shaper names ${c2sShaper}, which is not in shaper (${Object.keys(settings.shaper).join(', ') || 'none defined'})`,
      hint: `define ${c2sShaper} under shaper, name one of those, or write none`,
    })
  }

  if (settings.sm_db_type === 'redis') {
    const node = document.getIn(['sm_db_type'], true) as {range?: [number, number, number]} | undefined
    const position = node?.range ? lines.linePos(node.range[0]) : undefined
    const location = position ? `${display}:${position.line}:${position.col}` : display
    // Nodes share the store: a node's SQLite file is its own.
    if (settings.sql_type !== 'pgsql') problems.push({location, key: 'sm_db_type', message: 'sm_db_type: redis needs a store every node shares', hint: 'set sql_type: pgsql (and the sql_* keys), or sm_db_type: internal'})
    // A name derived from the host name and pid would change at each restart and leave the old one's sessions behind until they expire.
    if (settings.cluster?.node === undefined) problems.push({location, key: 'cluster.node', message: 'sm_db_type: redis needs this node\'s name', hint: 'add cluster: {node: NAME}, a name unique in the cluster that this node keeps across restarts'})
  }

  const workers = settings.cluster?.workers ?? 1
  if (workers !== 1) {
    const node = document.getIn(['cluster', 'workers'], true) as {range?: [number, number, number]} | undefined
    const position = node?.range ? lines.linePos(node.range[0]) : undefined
    const location = position ? `${display}:${position.line}:${position.col}` : display
    // Workers are nodes of a cluster: they find each other's sessions in Redis and share the store (the checks above, once sm_db_type is redis).
    if (settings.sm_db_type !== 'redis') {
      problems.push({location, key: 'cluster.workers', message: `cluster.workers: ${workers} runs several nodes, which need sm_db_type: redis and sql_type: pgsql`, hint: 'set sm_db_type: redis with the redis_* keys and sql_type: pgsql with the sql_* keys, or workers: 1'})
    }

    const name = settings.cluster?.node
    const longest = `${name}-${workers === 'auto' ? 1024 : workers}`
    if (name !== undefined && longest.length > 64) {
      problems.push({location, key: 'cluster.node', message: `cluster.node ${name} is too long for workers: ${workers}: worker names (${name}-1 to ${longest}) must be at most 64 characters`, hint: `shorten cluster.node to at most ${64 - longest.length + name.length} characters`})
    }
  }

  const hostOverrides: Record<string, Partial<HostSettings>> = {}
  for (const [host, overrides] of Object.entries(validated.hostConfig)) {
    let normalized = host
    try {
      normalized = normalizeDomain(host)
    } catch {}

    // With hosts itself invalid (and reported), settings.hosts are the defaults: comparing with them would be a false problem.
    if (validated.invalid.has('hosts')) continue
    if (!settings.hosts.includes(normalized)) {
      const node = validated.hostConfigNodes[host]
      const position = node?.range ? lines.linePos(node.range[0]) : undefined
      problems.push({
        location: position ? `${display}:${position.line}:${position.col}` : display,
        key: `host_config.${host}`,
        message: `host_config names ${host}, which is not in hosts (${settings.hosts.join(', ')})`,
        hint: `add ${host} to hosts, or remove its host_config entry`,
      })
      continue
    }

    hostOverrides[normalized] = overrides as Partial<HostSettings>
  }

  if (problems.length > 0) throw new ConfigProblemsError(problems)
  const configuration = new Configuration(file, settings, hostOverrides, plugins)
  requirePluginKeys(configuration, (host) => {
    const node = (host === undefined ? document.getIn(['auth_method'], true) : findHostAuthMethod(document.contents, host)) as
      | {range?: [number, number, number]}
      | undefined
    const position = node?.range ? lines.linePos(node.range[0]) : undefined
    return position ? `${display}:${position.line}:${position.col}` : display
  }, problems)
  if (problems.length > 0) throw new ConfigProblemsError(problems)
  return configuration
}

/** Defaults of the keys of loaded auth plugins. */
function pluginDefaults(plugins: PluginRegistry): Record<string, unknown> {
  const defaults: Record<string, unknown> = {}
  for (const [key, spec] of Object.entries(pluginKeys(plugins))) if (spec.default !== undefined) defaults[key] = structuredClone(spec.default)
  return defaults
}

/** `host_config.HOST.auth_method`'s node, matching the host as normalised. */
function findHostAuthMethod(root: unknown, host: string): unknown {
  const hostConfig = (root as {get?(key: string, keepScalar: boolean): unknown})?.get?.('host_config', true) as
    | {items?: Array<{key: unknown; value: unknown}>}
    | undefined
  for (const pair of hostConfig?.items ?? []) {
    const name = String((pair.key as {value?: unknown})?.value ?? '')
    let normalized = name.toLowerCase()
    try {
      normalized = normalizeDomain(name)
    } catch {}

    if (normalized === host) return (pair.value as {get?(key: string, keepScalar: boolean): unknown})?.get?.('auth_method', true)
  }

  return undefined
}

/** A host whose auth_method uses a plugin backend must set the keys that backend requires. */
function requirePluginKeys(config: Configuration, locate: (host?: string) => string, problems: ConfigProblem[]): void {
  const reported = new Set<string>()
  for (const host of config.hosts) {
    const settings = config.forHost(host) as unknown as Record<string, unknown>
    const own = config.hostOverrides[host]?.auth_method !== undefined
    for (const method of config.forHost(host).auth_method) {
      const backend = config.plugins.backends.get(method)
      for (const key of backend?.requiredKeys ?? []) {
        if (settings[key] !== undefined) continue
        const id = `${own ? host : ''}/${method}/${key}`
        if (reported.has(id)) continue
        reported.add(id)
        problems.push({
          location: locate(own ? host : undefined),
          key,
          message: `auth_method ${method}${own ? ` of ${host}` : ''} needs ${key}, which is not set`,
          hint: `set ${key}, ${backend!.keys[key]?.description ?? ''}; the auth plugin ${backend!.plugin.name} reads it`,
        })
      }
    }
  }
}

function normalizeHosts(hosts: string[], location: (index: number) => string, problems: ConfigProblem[]): string[] {
  const normalized: string[] = []
  for (const [index, host] of hosts.entries()) {
    try {
      const name = normalizeDomain(host)
      if (normalized.includes(name)) {
        problems.push({location: location(index), key: 'hosts', message: `hosts lists ${name} twice`})
      } else normalized.push(name)
    } catch (error) {
      problems.push({
        location: location(index),
        key: 'hosts',
        message: `hosts contains ${JSON.stringify(host)}, which is not a valid domain: ${error instanceof JidError ? error.message : String(error)}`,
        hint: 'use a DNS domain name such as example.org',
      })
    }
  }

  return normalized
}

/** A human-readable description of every key, for `config init` comments and the README. */
export function describeKey(key: string): string | undefined {
  return CONFIG_KEYS[key]?.description
}
