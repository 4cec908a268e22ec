import assert from 'node:assert/strict'
import {execFileSync, spawnSync} from 'node:child_process'
import {checkPrimeSync} from 'node:crypto'
import {writeFileSync} from 'node:fs'
import path from 'node:path'
import {describe, it} from 'node:test'

import {XmppctlError} from '../../../src/errors.js'
import {tempDir} from '../../helpers.js'
import {FFDHE_GROUPS, MAX_BITS, checkDhParams, encodeDhParams, ffdhePrime, knownGroup, readDhParams} from '../../../src/tls/dhparam.js'
import {parsePem} from '../../../src/tls/pem.js'

/** ⌊e·2^bits⌋ from Σ 1/k!, with guard bits. */
function eFixed(bits: number): bigint {
  const guard = 64n
  const one = 1n << (BigInt(bits) + guard)
  let sum = 0n
  for (let k = 1n, term = one; term > 0n; k++) {
    sum += term
    term /= k
  }

  return sum >> guard
}

// RFC 7919 Appendix A: the X of each group.
const X: Record<string, bigint> = {ffdhe2048: 560316n, ffdhe3072: 2625351n, ffdhe4096: 5736041n}

describe('RFC 7919 groups', () => {
  for (const group of FFDHE_GROUPS) {
    const b = BigInt(group.slice(5))
    it(`${group}: the stored prime is the RFC's formula, 2^b − 2^(b−64) + (⌊2^(b−130)·e⌋ + X)·2^64 − 1`, () => {
      const p = (1n << b) - (1n << (b - 64n)) + (eFixed(Number(b) - 130) + X[group]) * (1n << 64n) - 1n
      assert.equal(ffdhePrime(group), p)
    })

    it(`${group}: is byte-identical to OpenSSL's built-in group and passes "openssl dhparam -check"`, (t) => {
      const dir = tempDir(t)
      const ours = encodeDhParams({p: ffdhePrime(group), g: 2n})
      const theirs = execFileSync('openssl', ['genpkey', '-genparam', '-algorithm', 'DH', '-pkeyopt', `group:${group}`], {encoding: 'utf8'})
      assert.deepEqual(parsePem(ours)[0].der, parsePem(theirs)[0].der)
      const file = path.join(dir, 'dh.pem')
      writeFileSync(file, ours)
      const check = spawnSync('openssl', ['dhparam', '-in', file, '-check', '-text', '-noout'], {encoding: 'utf8'})
      assert.equal(check.status, 0)
      assert.match(check.stdout, new RegExp(`GROUP: ${group}`))
      assert.match(check.stderr + check.stdout, /DH parameters appear to be ok/)
    })
  }

  it('Node\'s checkPrime agrees that p and (p−1)/2 are prime for ffdhe2048 and ffdhe3072', () => {
    for (const group of ['ffdhe2048', 'ffdhe3072'] as const) {
      const p = ffdhePrime(group)
      assert.equal(checkPrimeSync(p, {checks: 16}), true)
      assert.equal(checkPrimeSync((p - 1n) / 2n, {checks: 16}), true)
    }
  })

  it('recognises a known group only with generator 2', () => {
    assert.equal(knownGroup(ffdhePrime('ffdhe3072'), 2n), 'ffdhe3072')
    assert.equal(knownGroup(ffdhePrime('ffdhe3072'), 5n), undefined)
  })
})

describe('dhparam check', () => {
  it('reads OpenSSL\'s X9.42 parameters too', async (t) => {
    const file = path.join(tempDir(t), 'x942.pem')
    execFileSync('openssl', ['genpkey', '-genparam', '-algorithm', 'DHX', '-pkeyopt', 'dh_rfc5114:2', '-out', file])
    const params = readDhParams(file)
    assert.ok(params.q !== undefined)
    const result = await checkDhParams(file)
    // RFC 5114 groups are not safe primes: q is a 224-bit prime, not (p−1)/2.
    assert.equal(result.safePrime, false)
    assert.ok(result.findings.some((finding) => finding.id === 'dh-not-safe-prime' && finding.severity === 'error'))
  })

  it('finds a composite p and a bad generator', async (t) => {
    const file = path.join(tempDir(t), 'bad.pem')
    writeFileSync(file, encodeDhParams({p: ffdhePrime('ffdhe2048') + 2n, g: 1n}))
    const ids = (await checkDhParams(file)).findings.map((finding) => finding.id)
    assert.deepEqual(ids, ['dh-not-prime', 'dh-bad-generator'])
  })

  for (const bits of [MAX_BITS + 1, 65_537]) {
    it(`refuses a ${bits}-bit prime before any primality test`, {timeout: 10_000}, async (t) => {
      const file = path.join(tempDir(t), 'huge.pem')
      writeFileSync(file, encodeDhParams({p: (1n << BigInt(bits - 1)) + 1n, g: 2n}))
      const started = Date.now()
      await assert.rejects(checkDhParams(file), (error: unknown) => {
        assert.ok(error instanceof XmppctlError)
        assert.equal(error.code, 'dh-too-large')
        assert.equal(error.message, `${file}: the prime is ${bits} bits, more than the ${MAX_BITS} this command checks`)
        return true
      })
      assert.ok(Date.now() - started < 1000)
    })
  }

  it(`still checks a prime of exactly ${MAX_BITS} bits`, async (t) => {
    const file = path.join(tempDir(t), 'max.pem')
    // 2^8191 + 1 is divisible by 3: a composite that trial division finds at once.
    writeFileSync(file, encodeDhParams({p: (1n << BigInt(MAX_BITS - 1)) + 1n, g: 2n}))
    const result = await checkDhParams(file)
    assert.equal(result.bits, MAX_BITS)
    assert.equal(result.pPrime, false)
  })
})
