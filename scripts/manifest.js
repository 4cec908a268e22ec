#!/usr/bin/env node
// Writes oclif.manifest.json from the compiled commands, so that running a
// command or showing help never has to import every command file to find one.
import {Config} from '@oclif/core'
import {rmSync, writeFileSync} from 'node:fs'
import {fileURLToPath} from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const file = new URL('../oclif.manifest.json', import.meta.url)
rmSync(file, {force: true})
const config = await Config.load({root, ignoreManifest: true, errorOnManifestCreate: true})
const plugin = config.getPluginsList().find((candidate) => candidate.root === config.root)
const ids = Object.keys(plugin.manifest.commands)
if (ids.length === 0) throw new Error('no commands found in dist/commands: did the TypeScript build run?')
writeFileSync(file, `${JSON.stringify(plugin.manifest, null, 2)}\n`)
process.stderr.write(`oclif.manifest.json: ${ids.length} commands\n`)
