import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {MANY_BANS, banFindings} from '../../../src/audit/checks/auth-bans.js'
import type {Configuration} from '../../../src/config/index.js'

const UNTIL = '2026-01-01T00:05:00.000Z'

function config(exempt: string[] = []): Pick<Configuration, 'settings'> {
  return {settings: {c2s_auth_ban_exempt: exempt, c2s_auth_ban_lifetime: 300} as Configuration['settings']}
}

const ban = (address: string, failures = 30) => ({address, failures, until: UNTIL})
const summary = (findings: ReturnType<typeof banFindings>) => findings.map(({id, severity, subject}) => [id, severity, subject])

describe('audit auth-bans: findings from the running server\'s bans', () => {
  it('no bans, no findings', () => {
    assert.deepEqual(banFindings({bans: [], restrictedAccounts: []}, {config: config() as Configuration}), [])
  })

  it(`a few bans are information; ${MANY_BANS} at once add a warning`, () => {
    const few = Array.from({length: MANY_BANS - 1}, (_, index) => ban(`192.0.2.${index + 1}`))
    assert.deepEqual(new Set(banFindings({bans: few, restrictedAccounts: []}, {config: config() as Configuration}).map((finding) => finding.severity)), new Set(['info']))
    const many = banFindings({bans: [...few, ban('2001:db8:1:2::/64')], restrictedAccounts: []}, {config: config() as Configuration})
    assert.deepEqual(summary(many.filter((finding) => finding.severity === 'warning')), [['auth-bans-many', 'warning', 'c2s_max_auth_failures']])
    assert.match(many.find((finding) => finding.id === 'auth-bans-many')!.message, /^10 addresses are refused for failed logins at once/)
    assert.equal(many.filter((finding) => finding.id === 'auth-ban').length, MANY_BANS)
  })

  it('warns of a banned address, or /64, that the configuration exempts (the server was not reloaded)', () => {
    const findings = banFindings({bans: [ban('198.51.100.7'), ban('2001:db8:1:2::/64'), ban('2001:db8:9:9::/64')], restrictedAccounts: []}, {config: config(['198.51.100.0/24', '2001:db8:1::/48']) as Configuration})
    assert.deepEqual(summary(findings), [
      ['auth-ban-exempt', 'warning', '198.51.100.7'],
      ['auth-ban-exempt', 'warning', '2001:db8:1:2::/64'],
      ['auth-ban', 'info', '2001:db8:9:9::/64'],
    ])
  })

  it('warns of an account guessed at from many addresses', () => {
    const [finding] = banFindings({bans: [], restrictedAccounts: [{account: 'alice@example.org', failures: 100, until: UNTIL}]}, {config: config() as Configuration})
    assert.deepEqual(finding, {
      id: 'auth-account-restricted',
      severity: 'warning',
      subject: 'alice@example.org',
      message: `100 failed logins from many addresses: until ${UNTIL}, only addresses it logged in from before may try`,
      fix: 'tell its owner, who can still log in from a known address; give it a strong password ("xmppctl user passwd alice@example.org")',
    })
  })
})
