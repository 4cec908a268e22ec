import {isIP} from 'node:net'
import {isMap, isScalar, isSeq, type LineCounter, type Node} from 'yaml'

import {normalizeDomain} from '../jid/index.js'
import {didYouMean} from '../suggest.js'
import {NO_PLUGINS, type PluginRegistry, installHint, knownPluginForKey, knownPluginForMethod, pluginKeys} from './plugins.js'
import {type KeySpec, type ValueSpec} from './key-spec.js'
import {AUTH_METHODS, CONFIG_KEYS, PER_HOST_KEYS, UNSUPPORTED_AUTH_METHODS} from './schema.js'

/** One thing wrong with a configuration file, located as precisely as the YAML allows. */
export interface ConfigProblem {
  /** `file:line:column`, or the key path when the value did not come from a file. */
  location: string
  key: string
  message: string
  hint?: string
}

interface Walk {
  file: string
  lines: LineCounter | undefined
  problems: ConfigProblem[]
  /** The loaded auth plugins: their methods and keys are valid too. */
  plugins: PluginRegistry
}

function locate(walk: Walk, node: Node | null | undefined, key: string): string {
  const offset = node?.range?.[0]
  if (offset === undefined || !walk.lines) return walk.file ? `${walk.file} (${key})` : key
  const {line, col} = walk.lines.linePos(offset)
  return `${walk.file}:${line}:${col}`
}

function report(walk: Walk, node: Node | null | undefined, key: string, message: string, hint?: string): void {
  walk.problems.push({location: locate(walk, node, key), key, message, hint})
}

function describe(spec: ValueSpec, plugins: PluginRegistry = NO_PLUGINS): string {
  switch (spec.type) {
    case 'boolean': {
      return 'true or false'
    }

    case 'enum': {
      return `one of ${spec.values.join(', ')}`
    }

    case 'integer': {
      const range = [spec.min === undefined ? '' : `≥ ${spec.min}`, spec.max === undefined ? '' : `≤ ${spec.max}`].filter(Boolean)
      return `an integer${range.length > 0 ? ` ${range.join(' and ')}` : ''}${spec.words ? `, or ${spec.words.join(' or ')}` : ''}`
    }

    case 'network': {
      return 'an IP network in CIDR notation, such as 10.0.0.0/8 or 2001:db8::/32'
    }

    case 'list': {
      if (spec.of.type === 'network') return 'a list of IP networks in CIDR notation, such as [127.0.0.0/8, 2001:db8::/32]'
      return `a list of ${describe(spec.of, plugins).replace(/^(a|an) /, '')}s`.replace(/ss$/, 's')
    }

    case 'map': {
      return `a mapping of names to ${describe(spec.of, plugins).replace(/^(a|an) /, '')}s`
    }

    case 'shaper-rate': {
      return 'a rate in bytes per second, or {rate: BYTES_PER_SECOND, burst_size: BYTES}'
    }

    case 'object': {
      return `a mapping with keys ${Object.keys(spec.keys).join(', ')}`
    }

    case 'string': {
      return 'a string'
    }

    case 'auth-method': {
      const methods = [...plugins.backends.keys()]
      return `one of ${AUTH_METHODS.join(', ')}${methods.length > 0 ? `, ${methods.join(', ')} (auth plugins)` : ''}`
    }
  }
}

/** The configuration keys of loaded auth plugins, as core key specs: per host, no required keys. */
export function pluginKeySpecs(plugins: PluginRegistry): Record<string, KeySpec> {
  const keys: Record<string, KeySpec> = {}
  for (const [name, key] of Object.entries(pluginKeys(plugins))) {
    keys[name] = {spec: key.spec, description: key.description, default: key.default, perHost: true, ...(key.check ? {check: key.check} : {})}
  }

  return keys
}

function fromJs(node: Node | null | undefined): unknown {
  return node && 'toJSON' in node ? (node as {toJSON(): unknown}).toJSON() : undefined
}

/**
 * Checks one value against its spec and returns the plain value (with object
 * defaults filled in), or `undefined` after reporting a problem.
 */
function checkValue(walk: Walk, node: Node | null | undefined, spec: ValueSpec, key: string): unknown {
  const expected = `${key} must be ${describe(spec, walk.plugins)}`
  switch (spec.type) {
    case 'boolean': {
      if (isScalar(node) && typeof node.value === 'boolean') return node.value
      report(walk, node, key, `${expected}, not ${shown(node)}`)
      return undefined
    }

    case 'integer': {
      if (isScalar(node) && typeof node.value === 'string' && spec.words?.includes(node.value)) return node.value
      if (!isScalar(node) || typeof node.value !== 'number' || !Number.isInteger(node.value)) {
        report(walk, node, key, `${expected}, not ${shown(node)}`)
        return undefined
      }

      if ((spec.min !== undefined && node.value < spec.min) || (spec.max !== undefined && node.value > spec.max)) {
        report(walk, node, key, `${expected}, not ${node.value}`)
        return undefined
      }

      return node.value
    }

    case 'string': {
      if (!isScalar(node) || typeof node.value !== 'string' || (spec.nonEmpty && node.value.length === 0)) {
        report(walk, node, key, `${expected}${spec.nonEmpty ? ' that is not empty' : ''}, not ${shown(node)}`)
        return undefined
      }

      return node.value
    }

    case 'enum': {
      // ejabberd writes some enums' "off" as a YAML boolean (s2s_use_starttls: false).
      const value = isScalar(node) ? (typeof node.value === 'boolean' ? String(node.value) : node.value) : undefined
      if (typeof value === 'string' && spec.values.includes(value)) return value
      // ejabberd writes `ldap_tls_verify: false`: YAML makes that a boolean.
      if (typeof value === 'boolean' && spec.values.includes(String(value))) return String(value)
      const suggestion = typeof value === 'string' ? didYouMean(value, spec.values) : undefined
      report(
        walk,
        node,
        key,
        `${key} must be ${describe(spec, walk.plugins)}, not ${shown(node)}`,
        suggestion ? `did you mean ${suggestion}?` : undefined,
      )
      return undefined
    }

    case 'list': {
      // A single scalar where a list is expected is accepted as a one-item list, as ejabberd does.
      const items = isSeq(node) ? node.items : isScalar(node) && node.value !== null ? [node] : undefined
      if (!items) {
        report(walk, node, key, `${expected}, not ${shown(node)}`)
        return undefined
      }

      if (spec.nonEmpty && items.length === 0) {
        report(walk, node, key, `${key} must not be empty`)
        return undefined
      }

      const values: unknown[] = []
      let failed = false
      for (const [index, item] of items.entries()) {
        const value = checkValue(walk, item as Node, spec.of, `${key}[${index}]`)
        if (value === undefined) failed = true
        else if (spec.unique && values.some((seen) => JSON.stringify(seen) === JSON.stringify(value))) {
          report(walk, item as Node, key, `${key} lists ${JSON.stringify(value)} twice`)
          failed = true
        } else values.push(value)
      }

      return failed ? undefined : values
    }

    case 'object': {
      return checkMapping(walk, node, spec.keys, key, expected)
    }

    case 'map': {
      if (!isMap(node)) {
        report(walk, node, key, `${expected}, not ${shown(node)}`)
        return undefined
      }

      const values: Record<string, unknown> = {}
      let failed = false
      for (const pair of node.items) {
        const name = isScalar(pair.key) ? String(pair.key.value) : String(fromJs(pair.key as Node))
        const value = checkValue(walk, pair.value as Node, spec.of, `${key}.${name}`)
        if (value === undefined) failed = true
        else values[name] = value
      }

      return failed ? undefined : values
    }

    case 'shaper-rate': {
      // ejabberd accepts a bare rate (its burst is then the rate) or both numbers.
      if (isScalar(node) && typeof node.value === 'number' && Number.isInteger(node.value) && node.value >= 1) return {rate: node.value, burst_size: node.value}
      const rate = {type: 'integer', min: 1} as const
      const value = checkMapping(walk, node, {rate: {spec: rate, description: 'bytes per second', required: true}, burst_size: {spec: rate, description: 'bytes at once'}}, key, expected) as
        | {rate: number; burst_size?: number}
        | undefined
      return value === undefined ? undefined : {rate: value.rate, burst_size: value.burst_size ?? value.rate}
    }

    case 'network': {
      const value = isScalar(node) ? node.value : undefined
      const wrong = typeof value === 'string' ? networkProblem(value) : 'it is not a string'
      if (wrong === undefined) return value
      report(walk, node, key, `${expected}, not ${shown(node)}: ${wrong}`)
      return undefined
    }

    case 'auth-method': {
      const value = isScalar(node) ? node.value : undefined
      if (typeof value === 'string' && ((AUTH_METHODS as readonly string[]).includes(value) || walk.plugins.backends.has(value))) return value
      const unsupported = typeof value === 'string' ? UNSUPPORTED_AUTH_METHODS[value] : undefined
      if (unsupported) {
        report(walk, node, key, `${key} is ${value}: ${unsupported} authentication is not supported by this version of xmppctl yet`, unsupportedHint())
        return undefined
      }

      const known = typeof value === 'string' ? knownPluginForMethod(value) : undefined
      if (known) {
        report(walk, node, key, `${key} is ${value}, which the auth plugin ${known.package} provides, and it is not loaded`, installHint(known, walk.plugins))
        return undefined
      }

      const suggestion = typeof value === 'string' ? didYouMean(value, [...AUTH_METHODS, ...walk.plugins.backends.keys()]) : undefined
      report(
        walk,
        node,
        key,
        `${key} must be ${describe(spec, walk.plugins)}, not ${shown(node)}`,
        suggestion ? `did you mean ${suggestion}?` : 'an auth plugin may provide it: see "xmppctl plugins list"',
      )
      return undefined
    }
  }
}

interface MappingOptions {
  /** Keys checked elsewhere. */
  skip?: ReadonlySet<string>
  /**
   * Return the keys that passed even when others failed (the top level):
   * later checks then see the file's real `hosts`, not the defaults, and
   * report no false problems. Filled with the names present but invalid.
   */
  partial?: Set<string>
}

function checkMapping(
  walk: Walk,
  node: Node | null | undefined,
  keys: Record<string, KeySpec>,
  path: string,
  expected: string,
  options: MappingOptions = {},
): Record<string, unknown> | undefined {
  if (!isMap(node)) {
    report(walk, node, path, `${expected}, not ${shown(node)}`)
    return undefined
  }

  const skip = options.skip ?? new Set<string>()
  const result: Record<string, unknown> = {}
  // Keys the file sets, valid or not: an invalid value has been reported and is not also "required".
  const present = new Set<string>()
  let failed = false
  for (const pair of node.items) {
    const keyNode = pair.key as Node
    const name = isScalar(keyNode) ? String(keyNode.value) : String(fromJs(keyNode))
    if (skip.has(name)) continue
    present.add(name)
    const keySpec = keys[name]
    const keyPath = path ? `${path}.${name}` : name
    if (!keySpec) {
      const suggestion = didYouMean(name, [...Object.keys(keys), ...skip])
      // A key of a known auth plugin that is not loaded: say what to install rather than guess.
      const candidate = path === '' || path.startsWith('host_config.') ? knownPluginForKey(name) : undefined
      const known = candidate && !walk.plugins.backends.has(candidate.method) ? candidate : undefined
      report(
        walk,
        keyNode,
        keyPath,
        known ? `unknown key ${keyPath}: it belongs to the auth plugin ${known.package}, which is not loaded` : `unknown key ${keyPath}`,
        known
          ? installHint(known, walk.plugins)
          : suggestion
            ? `did you mean ${path ? `${path}.` : ''}${suggestion}?`
            : `known keys: ${Object.keys(keys).join(', ')}`,
      )
      failed = true
      continue
    }

    const value = checkValue(walk, pair.value as Node, keySpec.spec, keyPath)
    const wrong = value === undefined ? undefined : keySpec.check?.(value)
    if (wrong !== undefined) report(walk, pair.value as Node, keyPath, `${keyPath} ${wrong}`)
    if (value === undefined || wrong !== undefined) {
      failed = true
      options.partial?.add(name)
    } else result[name] = value
  }

  for (const [name, keySpec] of Object.entries(keys)) {
    if (name in result || present.has(name)) continue
    if (keySpec.required) {
      report(walk, node, path ? `${path}.${name}` : name, `${path ? `${path}.` : ''}${name} is required`)
      failed = true
    } else if (keySpec.default !== undefined && path !== '') result[name] = structuredClone(keySpec.default)
  }

  return failed && !options.partial ? undefined : result
}

/** What is wrong with a CIDR network (`address/prefix`, or an address alone), or undefined. */
function networkProblem(text: string): string | undefined {
  const [address, prefix, extra] = text.split('/')
  const family = isIP(address)
  if (family === 0) return `${JSON.stringify(address)} is not an IPv4 or IPv6 address`
  if (extra !== undefined) return 'it has more than one "/"'
  const bits = family === 4 ? 32 : 128
  if (prefix !== undefined && !(/^\d{1,3}$/.test(prefix) && Number(prefix) <= bits)) return `the prefix length of an IPv${family} network is 0 to ${bits}`
  return undefined
}

function shown(node: Node | null | undefined): string {
  if (node === null || node === undefined) return 'nothing'
  if (isScalar(node)) return node.value === null ? 'nothing (null)' : JSON.stringify(node.value)
  if (isSeq(node)) return 'a list'
  if (isMap(node)) return 'a mapping'
  return 'an alias'
}

export interface ValidatedDocument {
  /** Top-level keys present in the file and valid; an invalid one is left out (and reported). */
  values: Record<string, unknown>
  /** Top-level keys present in the file whose value is invalid (and reported). */
  invalid: ReadonlySet<string>
  /** host (normalised) → per-host overrides, keys checked against the per-host subset. */
  hostConfig: Record<string, Record<string, unknown>>
  hostConfigNodes: Record<string, Node>
}

/** Validates a parsed YAML document's root; problems are appended to `problems`. */
export function validateDocument(
  root: Node | null | undefined,
  file: string,
  lines: LineCounter | undefined,
  problems: ConfigProblem[],
  plugins: PluginRegistry = NO_PLUGINS,
): ValidatedDocument {
  const walk: Walk = {file, lines, problems, plugins}
  const empty: ValidatedDocument = {values: {}, invalid: new Set(), hostConfig: {}, hostConfigNodes: {}}
  if (root === null || root === undefined || (isScalar(root) && root.value === null)) return empty

  if (!isMap(root)) {
    report(walk, root, '(top level)', `the configuration must be a mapping of keys to values, not ${shown(root)}`)
    return empty
  }

  const hostConfigPair = root.items.find((pair) => isScalar(pair.key) && pair.key.value === 'host_config')
  const extraKeys = pluginKeySpecs(plugins)
  const invalid = new Set<string>()
  const values = checkMapping(walk, root, {...CONFIG_KEYS, ...extraKeys}, '', '', {skip: new Set(['host_config']), partial: invalid}) ?? {}

  const result: ValidatedDocument = {values, invalid, hostConfig: {}, hostConfigNodes: {}}
  if (!hostConfigPair) return result
  const hostConfigNode = hostConfigPair.value as Node
  if (!isMap(hostConfigNode)) {
    report(walk, hostConfigNode, 'host_config', `host_config must be a mapping of host names to settings, not ${shown(hostConfigNode)}`)
    return result
  }

  const perHostKeys = Object.fromEntries([
    ...PER_HOST_KEYS.map((key) => [key, {...CONFIG_KEYS[key], default: undefined}]),
    ...Object.entries(extraKeys).map(([key, spec]) => [key, {...spec, default: undefined}]),
  ])
  // Where each host was first named, to report two spellings of one host (YAML's own duplicate check is exact).
  const seen = new Map<string, {name: string; node: Node}>()
  for (const pair of hostConfigNode.items) {
    const name = String(fromJs(pair.key as Node))
    const host = hostKey(name)
    const first = seen.get(host)
    if (first) {
      const at = (entry: {name: string; node: Node}) => `as ${JSON.stringify(entry.name)} at ${locate(walk, entry.node, `host_config.${entry.name}`)}`
      report(walk, pair.key as Node, `host_config.${host}`, `host_config names ${host} twice: ${at(first)} and ${at({name, node: pair.key as Node})}`, 'merge the two entries into one')
      continue
    }

    seen.set(host, {name, node: pair.key as Node})
    const overrides = checkMapping(
      walk,
      pair.value as Node,
      perHostKeys,
      `host_config.${host}`,
      `host_config.${host} must be a mapping of per-host keys (${PER_HOST_KEYS.join(', ')})`,
      {partial: new Set()},
    )
    if (overrides) {
      result.hostConfig[host] = overrides
      result.hostConfigNodes[host] = pair.key as Node
    }
  }

  return result
}

/** A host_config key as `hosts` entries are compared: normalised (case, trailing dot, IDNA), or lower-cased if it is no domain. */
function hostKey(name: string): string {
  try {
    return normalizeDomain(name)
  } catch {
    return name.toLowerCase()
  }
}

/** What to do about an auth method this version does not serve (UNSUPPORTED_AUTH_METHODS). */
export function unsupportedHint(): string {
  return 'put saslauthd or pam in front of the directory, since both reach LDAP and Kerberos, or use an auth plugin'
}
