import assert from 'node:assert/strict'
import {existsSync, readFileSync, statSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {describe, it} from 'node:test'

import {LogFile, createLogger, escapeLogText, logLevel} from '../../../src/server/log.js'
import {tempDir} from '../../helpers.js'

function capture(level: Parameters<typeof createLogger>[0] = 'info', burstMs = 10_000) {
  const lines: string[] = []
  const clock = {now: Date.parse('2024-01-01T00:00:00Z')}
  const logger = createLogger(level, (line) => lines.push(line), {now: () => clock.now, burstMs})
  return {lines, clock, logger}
}

describe('server log', () => {
  it('escapes C0, C1, DEL, line separators and bidi controls, and the backslash, so one event stays one readable line', () => {
    const hostile = 'a\u001b[31mb\r\nc\u0000\u007f\u0085\u009b\u2028\u2029\u202a\u202e\u2066\u2069\u200f\u061c\\x41 é ü 中'
    assert.equal(escapeLogText(hostile), 'a\\x1b[31mb\\x0d\\x0ac\\x00\\x7f\\x85\\x9b\\u2028\\u2029\\u202a\\u202e\\u2066\\u2069\\u200f\\u061c\\\\x41 é ü 中')
    const {lines, logger} = capture()
    logger.warn(`user ${hostile}`)
    assert.equal(lines.length, 1)
    assert.match(lines[0], /^2024-01-01T00:00:00\.000Z warn {2}user a\\x1b\[31mb\\x0d\\x0ac/)
    assert.doesNotMatch(lines[0].slice(0, -1), /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/)
  })

  it('writes the levels at or above its own, and takes ejabberd\'s "warning"', () => {
    assert.equal(logLevel('warning'), 'warn')
    assert.equal(logLevel('debug'), 'debug')
    const {lines, logger} = capture(logLevel('warning'))
    logger.error('e')
    logger.warn('w')
    logger.info('i')
    logger.debug('d')
    assert.deepEqual(lines.map((line) => line.slice(25)), ['error e\n', 'warn  w\n'])
  })

  it('writes the first message of a kind in a burst and counts the rest in one line when the burst ends', () => {
    const {lines, clock, logger} = capture()
    for (let index = 0; index < 100; index++) {
      logger.warn(`attempt ${index} throttled`, 'authentication throttled')
      clock.now += 50
    }

    logger.info('something else')
    assert.deepEqual(lines.map((line) => line.slice(25)), ['warn  attempt 0 throttled\n', 'info  something else\n'])
    clock.now += 5000
    logger.warn('attempt 100 throttled', 'authentication throttled')
    assert.deepEqual(lines.slice(2).map((line) => line.slice(25)), [
      'warn  authentication throttled: 99 more like this in the last 10 s\n',
      'warn  attempt 100 throttled\n',
    ])
    logger.warn('attempt 101 throttled', 'authentication throttled')
    logger.flush!()
    assert.equal(lines.at(-1)!.slice(25), 'warn  authentication throttled: 1 more like this in the last 1 s\n')
    logger.flush!()
    assert.equal(lines.length, 5, 'a burst is counted once')
  })

  it('ends a burst on its own timer, so a flood that stops is still counted', async () => {
    const lines: string[] = []
    const logger = createLogger('info', (line) => lines.push(line), {burstMs: 100})
    logger.warn('one', 'kind')
    logger.warn('two', 'kind')
    logger.warn('three', 'kind')
    const deadline = Date.now() + 5000
    while (lines.length < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
    assert.match(lines[1], /warn {2}kind: 2 more like this in the last 1 s\n$/)
  })

  it('keeps a bounded number of kinds, ending the oldest burst first', () => {
    const lines: string[] = []
    const logger = createLogger('info', (line) => lines.push(line), {maxKinds: 2, now: () => 0})
    logger.info('a1', 'a')
    logger.info('a2', 'a')
    logger.info('b1', 'b')
    logger.info('c1', 'c')
    assert.deepEqual(lines.map((line) => line.slice(25)), ['info  a1\n', 'info  b1\n', 'info  a: 1 more like this in the last 1 s\n', 'info  c1\n'])
    logger.flush!()
  })
})

describe('LogFile', () => {
  it('rotates before a line would pass rotateSize, keeps rotateCount files, and creates the new file 0600', (t) => {
    const dir = tempDir(t)
    const file = path.join(dir, 'server.log')
    writeFileSync(file, 'x'.repeat(90), {mode: 0o600})
    const log = new LogFile(file, {rotateSize: 100, rotateCount: 2})
    t.after(() => log.close())
    log.write('a'.repeat(9) + '\n')
    assert.equal(readFileSync(file, 'utf8').length, 100, 'exactly at the size: no rotation yet')
    log.write('b'.repeat(39) + '\n')
    assert.equal(readFileSync(`${file}.1`, 'utf8'), `${'x'.repeat(90)}${'a'.repeat(9)}\n`)
    log.write('c'.repeat(59) + '\n')
    log.write('d'.repeat(59) + '\n')
    assert.equal(readFileSync(file, 'utf8'), `${'d'.repeat(59)}\n`)
    assert.equal(readFileSync(`${file}.1`, 'utf8'), `${'b'.repeat(39)}\n${'c'.repeat(59)}\n`)
    assert.match(readFileSync(`${file}.2`, 'utf8'), /^x{90}a{9}\n$/)
    assert.equal(existsSync(`${file}.3`), false)
    assert.equal(statSync(file).mode & 0o777, 0o600)
  })

  it('starts afresh without keeping a file when rotateCount is 0, and never rotates when rotateSize is 0', (t) => {
    const dir = tempDir(t)
    const file = path.join(dir, 'server.log')
    const previous = process.umask(0o022)
    t.after(() => process.umask(previous))
    const none = new LogFile(file, {rotateSize: 10, rotateCount: 0})
    none.write('12345678\n')
    none.write('abcdefgh\n')
    none.close()
    assert.equal(readFileSync(file, 'utf8'), 'abcdefgh\n')
    assert.equal(existsSync(`${file}.1`), false)
    assert.equal(statSync(file).mode & 0o777, 0o600, 'created 0600 under umask 022')
    const never = new LogFile(file, {rotateSize: 0, rotateCount: 1})
    for (let index = 0; index < 10; index++) never.write('0123456789\n')
    never.close()
    assert.equal(readFileSync(file, 'utf8').length, 9 + 110)
    assert.equal(existsSync(`${file}.1`), false)
  })
})
