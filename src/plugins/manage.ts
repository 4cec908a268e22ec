/**
 * What `xmppctl plugins install|uninstall|list` need beyond
 * @oclif/plugin-plugins: telling a path or a tarball from a package name
 * (plugin-plugins would take "./dir" for a GitHub slug), and listing each
 * plugin with its source, the auth backends it provides and its error.
 */
import {existsSync, statSync} from 'node:fs'
import path from 'node:path'

import type {Interfaces} from '@oclif/core'

type Config = Interfaces.Config

import {UsageError} from '../errors.js'
import {type InstalledEntry, installedEntries, loadAuthPlugins} from './loader.js'

export type InstallKind = 'path' | 'tarball' | 'npm' | 'url'

export interface InstallTarget {
  /** What to hand to plugin-plugins: `file:/abs/path` for paths and tarballs. */
  argument: string
  kind: InstallKind
  /** The absolute path, for paths and tarballs. */
  path?: string
}

const TARBALL = /\.(tgz|tar\.gz|tar)$/i

/** NAME[@VERSION] and URLs go to npm as they are; an existing directory or tarball becomes `file:ABSOLUTE`. */
export function installTarget(input: string, cwd = process.cwd()): InstallTarget {
  const given = input.startsWith('file:') ? input.slice('file:'.length) : input
  const absolute = path.resolve(cwd, given)
  // As npm does: a bare name is a package; "./x", "/x", "x.tgz", or "dir/sub" that exists here, is a path.
  const looksLikePath =
    input.startsWith('file:') ||
    /^(\.{1,2}([/\\]|$)|[/\\])/.test(input) ||
    TARBALL.test(input) ||
    (input.includes('/') && !input.startsWith('@') && !input.includes(':') && existsSync(absolute))
  if (looksLikePath) {
    let stats
    try {
      stats = statSync(absolute)
    } catch {
      throw new UsageError(`${input}: no such directory or tarball`, 'give a package name, a plugin directory, or a tarball made with "npm pack"')
    }

    if (stats.isDirectory()) {
      if (!existsSync(path.join(absolute, 'package.json'))) throw new UsageError(`${input} has no package.json, so it is not an npm package`, 'give the directory that holds the plugin\'s package.json')
      return {argument: `file:${absolute}`, kind: 'path', path: absolute}
    }

    if (stats.isFile() && TARBALL.test(absolute)) return {argument: `file:${absolute}`, kind: 'tarball', path: absolute}
    throw new UsageError(`${input} is neither a directory nor a tarball (.tgz)`, 'make a tarball with "npm pack" in the plugin\'s directory')
  }

  if (/^[a-z+]+:\/\//i.test(input) || input.endsWith('.git')) return {argument: input, kind: 'url'}
  return {argument: input, kind: 'npm'}
}

/** Where a plugin came from, as `plugins list` shows it. */
export function describeSource(entry: InstalledEntry | undefined, type: string): string {
  if (!entry) return type === 'core' ? 'bundled' : type
  if (entry.type === 'link') return `link ${entry.root ?? ''}`.trim()
  if (entry.url) {
    if (entry.url.startsWith('file:')) {
      const file = entry.url.slice('file:'.length)
      return `${TARBALL.test(file) ? 'tarball' : 'path'} ${file}`
    }

    return entry.url
  }

  return `npm ${entry.name}@${entry.tag ?? 'latest'}`
}

export interface ListedBackend {
  method: string
  description: string
  keys: string[]
}

export interface ListedPlugin {
  name: string
  version: string | null
  type: string
  source: string
  backends: ListedBackend[]
  /** Why it cannot be used; the rest of xmppctl runs without it. */
  error?: string
}

/** Installed plugins (and with `core`, the bundled ones) with their backends and errors. */
export async function listPlugins(config: Config, options: {core?: boolean} = {}): Promise<ListedPlugin[]> {
  const registry = await loadAuthPlugins({config, force: true})
  const entries = await installedEntries(config)
  const listed = new Map<string, ListedPlugin>()
  for (const plugin of config.getPluginsList()) {
    if (plugin.root === config.root || plugin.parent) continue
    if (!options.core && (plugin.type === 'core' || plugin.type === 'dev')) continue
    const entry = entries.find((candidate) => candidate.name === plugin.name)
    listed.set(plugin.name, {name: plugin.name, version: plugin.version ?? null, type: plugin.type, source: describeSource(entry, plugin.type), backends: []})
  }

  for (const backend of registry.backends.values()) {
    listed.get(backend.plugin.name)?.backends.push({method: backend.method, description: backend.description, keys: Object.keys(backend.keys)})
  }

  for (const failure of registry.failures) {
    const known = listed.get(failure.plugin)
    if (known) known.error = failure.error
    else {
      const entry = entries.find((candidate) => candidate.name === failure.plugin)
      listed.set(failure.plugin, {
        name: failure.plugin,
        version: failure.version ?? null,
        type: entry?.type ?? 'user',
        source: describeSource(entry, entry?.type ?? 'user'),
        backends: [],
        error: failure.error,
      })
    }
  }

  return [...listed.values()].sort((a, b) => a.name.localeCompare(b.name))
}
