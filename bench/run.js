#!/usr/bin/env node
// `npm run bench`: runs every benchmark in bench/ one after another (they
// measure time, so never in parallel); each prints one JSON line.
import {spawnSync} from 'node:child_process'
import {readdirSync} from 'node:fs'
import {fileURLToPath} from 'node:url'

const dir = fileURLToPath(new URL('.', import.meta.url))
const only = process.argv.slice(2)
let failed = 0
for (const file of readdirSync(dir).filter((name) => name.endsWith('.js') && name !== 'run.js').sort()) {
  if (only.length > 0 && !only.some((name) => file.startsWith(name))) continue
  const result = spawnSync(process.execPath, [`${dir}/${file}`], {stdio: 'inherit'})
  if (result.status !== 0) failed++
}

process.exitCode = failed > 0 ? 1 : 0
