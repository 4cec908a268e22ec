import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {type GradeInput, cipherPoints, grade, keyPoints, scoreGrade} from '../../../src/audit/remote/grade.js'

const good: GradeInput = {
  protocols: ['TLSv1.2', 'TLSv1.3'],
  keys: [{type: 'EC', bits: 256, what: 'the certificate key'}],
  suites: [
    {name: 'TLS_AES_256_GCM_SHA384', bits: 256, forwardSecrecy: true, aead: true},
    {name: 'ECDHE-ECDSA-AES256-GCM-SHA384', bits: 256, forwardSecrecy: true, aead: true},
  ],
  certificate: {expired: false, weakSignature: null, trusted: true, identityMatches: true, domain: 'example.org'},
}

describe('IM Observatory grade', () => {
  it('uses the point tables of the formula', () => {
    assert.deepEqual([511, 512, 1023, 1024, 2047, 2048, 4095, 4096].map((bits) => keyPoints({type: 'RSA', bits})), [20, 40, 40, 80, 80, 90, 90, 100])
    assert.equal(keyPoints({type: 'EC', bits: 256}), 100)
    assert.deepEqual([0, 112, 127, 128, 255, 256].map(cipherPoints), [20, 20, 20, 80, 80, 100])
    assert.deepEqual([80, 79.9, 65, 64.9, 50, 35, 20, 19.9].map(scoreGrade), ['A', 'B', 'B', 'C', 'C', 'D', 'E', 'F'])
  })

  it('all strong: 100, A, no caps', () => {
    const result = grade(good)
    assert.deepEqual({grade: result.grade, score: result.score, caps: result.caps}, {grade: 'A', score: 100, caps: []})
  })

  it('averages lowest and highest protocol, and strongest and weakest cipher', () => {
    const result = grade({...good, protocols: ['TLSv1', 'TLSv1.2'], suites: [...good.suites, {name: 'ECDHE-RSA-AES128-SHA', bits: 128, forwardSecrecy: true, aead: false}]})
    assert.equal(result.protocolScore, 95)
    assert.equal(result.cipherScore, 90)
    assert.equal(result.score, Math.round((0.3 * 95 + 0.3 * 100 + 0.4 * 90) * 10) / 10)
    assert.equal(result.grade, 'B')
    assert.deepEqual(result.caps.map((cap) => [cap.cap, cap.reason, cap.applied]), [
      ['B', 'TLS 1.0 is accepted', true],
      ['A-', 'not every suite has authenticated encryption (ECDHE-RSA-AES128-SHA)', true],
    ])
  })

  const caps: Array<[string, Partial<GradeInput>, string, string]> = [
    ['SSLv3', {protocols: ['SSLv3', 'TLSv1.2']}, 'F', 'SSLv3 is accepted'],
    ['an expired certificate', {certificate: {...good.certificate, expired: true}}, 'F', 'the certificate has expired'],
    ['a 768-bit RSA key', {keys: [{type: 'RSA', bits: 768, what: 'the certificate key'}]}, 'F', 'the certificate key is RSA of 768 bits, under 1024'],
    ['a SHA-1 signature', {certificate: {...good.certificate, weakSignature: 'sha1WithRSAEncryption'}}, 'F', 'the certificate chain is signed with sha1WithRSAEncryption'],
    ['no TLS 1.2+', {protocols: ['TLSv1', 'TLSv1.1']}, 'C', 'neither TLS 1.2 nor TLS 1.3 is accepted'],
    ['TLS 1.1', {protocols: ['TLSv1.1', 'TLSv1.3']}, 'B', 'TLS 1.1 is accepted'],
    ['DHE 1024', {keys: [...good.keys, {type: 'DH', bits: 1024, what: 'a DHE group'}]}, 'B', 'a DHE group is DHE of 1024 bits, under 2048'],
    ['RSA key exchange', {suites: [...good.suites, {name: 'AES256-GCM-SHA384', bits: 256, forwardSecrecy: false, aead: true}]}, 'A-', 'not every suite has forward secrecy (AES256-GCM-SHA384)'],
  ]
  for (const [what, change, expected, reason] of caps) {
    it(`caps at ${expected} for ${what}, saying why`, () => {
      const result = grade({...good, ...change})
      assert.equal(result.gradeIgnoringTrust, expected)
      assert.equal(result.grade, expected)
      assert.ok(result.caps.some((cap) => cap.cap === expected && cap.reason === reason), JSON.stringify(result.caps))
    })
  }

  it('gives T for an untrusted chain or a wrong identity, keeping the grade trust would have', () => {
    const untrusted = grade({...good, certificate: {...good.certificate, trusted: false, trustProblem: 'SELF_SIGNED_CERT_IN_CHAIN'}})
    assert.deepEqual([untrusted.grade, untrusted.gradeIgnoringTrust], ['T', 'A'])
    assert.deepEqual(untrusted.caps.map((cap) => cap.reason), ['the certificate chain is not trusted: SELF_SIGNED_CERT_IN_CHAIN'])
    const wrong = grade({...good, certificate: {...good.certificate, identityMatches: false}})
    assert.deepEqual(wrong.caps.map((cap) => [cap.cap, cap.reason]), [['T', 'the certificate does not name example.org']])
  })

  it('notes a cap that did not lower the grade', () => {
    const result = grade({...good, protocols: ['TLSv1', 'TLSv1.1'], suites: [{name: 'EXP', bits: 40, forwardSecrecy: false, aead: false}], keys: [{type: 'RSA', bits: 1024, what: 'k'}]})
    // 0.3·92.5 + 0.3·80 + 0.4·20 = 59.75 → C; the B caps change nothing.
    assert.equal(result.grade, 'C')
    assert.ok(result.caps.filter((cap) => cap.cap === 'B').every((cap) => !cap.applied))
  })
})
