import assert from 'node:assert/strict'
import path from 'node:path'
import {describe, it} from 'node:test'

import {Configuration} from '../../src/config/index.js'
import {defaultSettings} from '../../src/config/schema.js'
import {UploadStore} from '../../src/server/upload-store.js'
import {runCli, tempDir, writeConfig} from '../helpers.js'

const DAY = 86_400_000

describe('upload purge', () => {
  it('counts under --dry-run, then removes files older than max_days and unused slots, keeping the rest', async (t) => {
    const dir = tempDir(t)
    writeConfig(dir, 'hosts: [example.org]\nmodules:\n  mod_http_upload: {max_days: 10}\n')
    const store = new UploadStore(new Configuration(path.join(dir, 'xmppctl.yml'), {...defaultSettings(), data_dir: './data'}).dataDir)
    const old = await store.create('alice@example.org', 'old.bin', 4, 'application/octet-stream', Date.now() - 11 * DAY)
    const found = (await store.find(old.path))!
    const {writeFileSync} = await import('node:fs')
    writeFileSync(found.file, 'data', {mode: 0o600})
    await store.complete(found.dir, found.meta)
    const fresh = await store.create('alice@example.org', 'fresh.bin', 4, 'application/octet-stream')
    await store.create('bob@example.org', 'never.bin', 4, 'application/octet-stream', Date.now() - DAY)

    const dry = await runCli(['upload', 'purge', '--dry-run', '--json'], {cwd: dir})
    assert.equal(dry.status, 0, dry.stderr)
    assert.deepEqual(JSON.parse(dry.stdout), {files: 1, bytes: 4, slots: 1, maxDays: 10, dryRun: true})
    assert.ok(await store.find(old.path))

    const run = await runCli(['upload', 'purge'], {cwd: dir})
    assert.equal(run.status, 0, run.stderr)
    assert.equal(run.stdout, 'removed 1 file (4 bytes) older than 10 days and 1 unused slot\n')
    assert.equal(await store.find(old.path), undefined)
    assert.ok(await store.find(fresh.path))
  })

  it('refuses to guess an age when max_days is 0', async (t) => {
    const dir = tempDir(t)
    writeConfig(dir, 'hosts: [example.org]\nmodules:\n  mod_http_upload: {max_days: 0}\n')
    const run = await runCli(['upload', 'purge'], {cwd: dir})
    assert.equal(run.status, 2)
    assert.match(run.stderr, /max_days is 0.*--older-than 30d/s)
  })
})
