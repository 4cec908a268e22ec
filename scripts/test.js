#!/usr/bin/env node
// Runs every compiled test file under dist/test with Node's test runner.
// Node 20's `--test` takes no glob patterns, and given a directory it would also
// run the helpers that live beside the tests, so the files are listed here.
// Extra arguments are passed on (e.g. `npm test -- --test-name-pattern=jid`).
import {spawnSync} from 'node:child_process'
import {readdirSync} from 'node:fs'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const testDir = join(root, 'dist', 'test')
const files = readdirSync(testDir, {recursive: true})
  .filter((name) => String(name).endsWith('.test.js'))
  .map((name) => join(testDir, String(name)))
  .sort()
if (files.length === 0) {
  process.stderr.write(`no test files under ${testDir}: run "npm run build" first\n`)
  process.exit(2)
}

const options = process.argv.slice(2)
const result = spawnSync(process.execPath, ['--test', '--test-concurrency=2', ...options, ...files], {stdio: 'inherit'})
process.exit(result.status ?? 1)
