/** The server-wide log and authentication-limit keys (ejabberd's names). */
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {parseConfig} from '../../../src/config/index.js'
import {problemsOf} from './problems.js'

describe('log and authentication-limit keys', () => {
  it('have ejabberd\'s defaults', () => {
    const {settings} = parseConfig('', '/x/xmppctl.yml')
    assert.equal(settings.loglevel, 'info')
    assert.equal(settings.log_rotate_size, 10 * 1024 * 1024)
    assert.equal(settings.log_rotate_count, 1)
    assert.equal(settings.c2s_auth_ban_lifetime, 300)
    assert.equal(settings.c2s_max_auth_failures, 30)
    assert.deepEqual(settings.c2s_auth_ban_exempt, [])
  })

  it('accept warning and warn, infinity as a rotation size, and IPv4 and IPv6 networks or single addresses', () => {
    for (const level of ['error', 'warning', 'warn', 'info', 'debug']) assert.equal(parseConfig(`loglevel: ${level}\n`, '/x/xmppctl.yml').settings.loglevel, level)
    assert.equal(parseConfig('log_rotate_size: infinity\n', '/x/xmppctl.yml').settings.log_rotate_size, 'infinity')
    assert.equal(parseConfig('log_rotate_size: 0\n', '/x/xmppctl.yml').settings.log_rotate_size, 0)
    const {settings} = parseConfig('c2s_auth_ban_exempt: [127.0.0.0/8, 10.0.0.0/8, "::1", "2001:db8::/32", 192.0.2.7, "::ffff:0:0/96"]\n', '/x/xmppctl.yml')
    assert.deepEqual(settings.c2s_auth_ban_exempt, ['127.0.0.0/8', '10.0.0.0/8', '::1', '2001:db8::/32', '192.0.2.7', '::ffff:0:0/96'])
  })

  it('refuse a network that is not one, naming the entry and what is wrong', () => {
    const problems = problemsOf('c2s_auth_ban_exempt:\n  - 10.0.0.0/8\n  - 10.0.0.0/33\n  - "2001:db8::/129"\n  - localhost\n  - 10.0.0.0/8/8\n  - 10.0.0.0/\n')
    const expected = 'must be an IP network in CIDR notation, such as 10.0.0.0/8 or 2001:db8::/32, not'
    assert.deepEqual(
      problems.map(({location, message}) => `${location}: ${message}`),
      [
        `/etc/xmppctl.yml:3:5: c2s_auth_ban_exempt[1] ${expected} "10.0.0.0/33": the prefix length of an IPv4 network is 0 to 32`,
        `/etc/xmppctl.yml:4:5: c2s_auth_ban_exempt[2] ${expected} "2001:db8::/129": the prefix length of an IPv6 network is 0 to 128`,
        `/etc/xmppctl.yml:5:5: c2s_auth_ban_exempt[3] ${expected} "localhost": "localhost" is not an IPv4 or IPv6 address`,
        `/etc/xmppctl.yml:6:5: c2s_auth_ban_exempt[4] ${expected} "10.0.0.0/8/8": it has more than one "/"`,
        `/etc/xmppctl.yml:7:5: c2s_auth_ban_exempt[5] ${expected} "10.0.0.0/": the prefix length of an IPv4 network is 0 to 32`,
      ],
    )
  })

  it('refuse other levels and sizes, listing what is allowed', () => {
    assert.deepEqual(
      [problemsOf('loglevel: verbose\n'), problemsOf('log_rotate_size: -1\n'), problemsOf('log_rotate_size: never\n'), problemsOf('c2s_max_auth_failures: 0\n')].map(([problem]) => problem.message),
      [
        'loglevel must be one of error, warning, warn, info, debug, not "verbose"',
        'log_rotate_size must be an integer ≥ 0, or infinity, not -1',
        'log_rotate_size must be an integer ≥ 0, or infinity, not "never"',
        'c2s_max_auth_failures must be an integer ≥ 1 and ≤ 1000000, not 0',
      ],
    )
  })

  it('are server-wide: host_config refuses them', () => {
    const [problem] = problemsOf('hosts: [example.org]\nhost_config:\n  example.org:\n    c2s_max_auth_failures: 5\n')
    assert.match(problem.message, /unknown key host_config\.example\.org\.c2s_max_auth_failures/)
  })
})
