import assert from 'node:assert/strict'
import {writeFileSync} from 'node:fs'
import path from 'node:path'
import {describe, it} from 'node:test'

import {JEMALLOC_CONF, activeAllocator, allocatorEnvironment, findJemalloc} from '../../../src/server/allocator.js'
import {tempDir} from '../../helpers.js'

const LIBRARY = '/usr/lib/x86_64-linux-gnu/libjemalloc.so.2'

describe('memory_allocator', () => {
  it('auto preloads jemalloc ahead of what the operator preloads, once, with a decay that returns memory', () => {
    const choice = allocatorEnvironment('auto', {PATH: '/bin', LD_PRELOAD: `/opt/a.so ${LIBRARY}`}, LIBRARY)
    assert.equal(choice.allocator, 'jemalloc')
    assert.equal(choice.env.LD_PRELOAD, `${LIBRARY}:/opt/a.so`)
    assert.equal(choice.env.MALLOC_CONF, JEMALLOC_CONF)
    assert.equal(choice.env.PATH, '/bin')
  })

  it('keeps the operator\'s MALLOC_CONF', () => {
    assert.equal(allocatorEnvironment('jemalloc', {MALLOC_CONF: 'narenas:2'}, LIBRARY).env.MALLOC_CONF, 'narenas:2')
  })

  it('system, or auto without the library, leaves the environment alone', () => {
    const env = {PATH: '/bin'}
    assert.deepEqual(allocatorEnvironment('system', env, LIBRARY), {allocator: 'system', env})
    assert.deepEqual(allocatorEnvironment('auto', env, undefined), {allocator: 'system', env})
  })

  it('refuses jemalloc asked for and not installed, naming the package', () => {
    assert.throws(() => allocatorEnvironment('jemalloc', {}, undefined), (error: Error & {code?: string; hint?: string}) => {
      assert.equal(error.message, 'memory_allocator is jemalloc, but libjemalloc.so.2 is not installed')
      assert.match(error.hint ?? '', /apt-get install libjemalloc2/)
      return true
    })
  })

  it('finds the library among the candidates, and tells the allocator from the process\'s mappings', (t) => {
    const dir = tempDir(t)
    const library = path.join(dir, 'libjemalloc.so.2')
    writeFileSync(library, '')
    assert.equal(findJemalloc([path.join(dir, 'absent.so'), library]), process.platform === 'linux' ? library : undefined)
    assert.equal(findJemalloc([path.join(dir, 'absent.so')]), undefined)
    const maps = path.join(dir, 'maps')
    writeFileSync(maps, `7f00-7f01 r-xp 00000000 08:01 1 ${LIBRARY}\n`)
    assert.equal(activeAllocator(maps), 'jemalloc')
    writeFileSync(maps, '7f00-7f01 r-xp 00000000 08:01 1 /usr/lib/x86_64-linux-gnu/libc.so.6\n')
    assert.equal(activeAllocator(maps), 'system')
    assert.equal(activeAllocator(path.join(dir, 'none')), 'system')
  })
})
