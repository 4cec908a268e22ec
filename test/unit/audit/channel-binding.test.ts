import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {type ChannelBindingReport, channelBindingFindings} from '../../../src/audit/remote/scan.js'

const ids = (report: ChannelBindingReport) => channelBindingFindings(report, 's').map((finding) => `${finding.severity}:${finding.id}`)

describe('channel binding against the negotiated TLS version', () => {
  const cases: Array<[string, ChannelBindingReport, string[]]> = [
    ['tls-exporter on TLS 1.3 (RFC 9266)', {protocol: 'TLSv1.3', plusMechanisms: ['SCRAM-SHA-256-PLUS'], types: ['tls-exporter']}, []],
    ['tls-unique on TLS 1.2 (RFC 5929)', {protocol: 'TLSv1.2', plusMechanisms: ['SCRAM-SHA-1-PLUS'], types: ['tls-unique']}, []],
    ['tls-unique on TLS 1.3 is wrong, and tls-exporter is missing', {protocol: 'TLSv1.3', plusMechanisms: ['SCRAM-SHA-1-PLUS'], types: ['tls-unique']}, ['warning:cb-tls-unique-on-tls13', 'warning:cb-no-tls-exporter', 'warning:cb-no-usable-type']],
    ['tls-server-end-point alone on TLS 1.3 works but lacks tls-exporter', {protocol: 'TLSv1.3', plusMechanisms: ['SCRAM-SHA-256-PLUS'], types: ['tls-server-end-point']}, ['warning:cb-no-tls-exporter']],
    ['no -PLUS and no XEP-0440 on TLS 1.3', {protocol: 'TLSv1.3', plusMechanisms: [], types: null}, ['warning:cb-no-tls-exporter']],
    ['-PLUS without XEP-0440 on TLS 1.2', {protocol: 'TLSv1.2', plusMechanisms: ['SCRAM-SHA-1-PLUS'], types: null}, ['info:cb-types-not-announced']],
    ['tls-exporter only, on TLS 1.2', {protocol: 'TLSv1.2', plusMechanisms: ['SCRAM-SHA-256-PLUS'], types: ['tls-exporter']}, ['warning:cb-no-usable-type']],
  ]
  for (const [what, report, expected] of cases) {
    it(what, () => assert.deepEqual(ids(report), expected))
  }
})
