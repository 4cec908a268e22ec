import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {DEFAULT_MODULES} from '../../../src/config/modules.js'
import {parseConfig} from '../../../src/config/index.js'
import {problemsOf} from './problems.js'

describe('the modules key', () => {
  it('defaults to the full IM set without mod_version', () => {
    const config = parseConfig('hosts: [localhost]\n', '/tmp/xmppctl.yml')
    assert.deepEqual(config.settings.modules, DEFAULT_MODULES)
    assert.equal('mod_version' in config.settings.modules, false)
  })

  it('enables exactly the listed modules, with their options\' defaults', () => {
    const config = parseConfig('modules:\n  mod_roster: {}\n  mod_version: {}\n', '/tmp/xmppctl.yml')
    assert.deepEqual(config.settings.modules, {mod_roster: {}, mod_version: {show_os: false}})
  })

  it('names an unknown module or option with its line and a did-you-mean', () => {
    assert.deepEqual(problemsOf('modules:\n  mod_rostr: {}\n'), [{location: '/etc/xmppctl.yml:2:3', key: 'modules.mod_rostr', message: 'unknown key modules.mod_rostr', hint: 'did you mean modules.mod_roster?'}])
    assert.deepEqual(problemsOf('modules:\n  mod_version: {show_oss: true}\n'), [{location: '/etc/xmppctl.yml:2:17', key: 'modules.mod_version.show_oss', message: 'unknown key modules.mod_version.show_oss', hint: 'did you mean modules.mod_version.show_os?'}])
  })

  it('refuses modules under host_config: they are the server\'s', () => {
    const [problem] = problemsOf('hosts: [localhost]\nhost_config:\n  localhost:\n    modules: {}\n')
    assert.match(problem.message, /modules/)
  })
})

describe('shaper and shaper_rules', () => {
  it('take ejabberd\'s two spellings of a shaper', () => {
    const config = parseConfig('shaper:\n  normal: {rate: 3000, burst_size: 20000}\n  fast: 100000\nshaper_rules:\n  c2s_shaper: fast\n', '/tmp/xmppctl.yml')
    assert.deepEqual(config.settings.shaper, {normal: {rate: 3000, burst_size: 20000}, fast: {rate: 100000, burst_size: 100000}})
    assert.equal(config.settings.shaper_rules.c2s_shaper, 'fast')
  })

  it('name a c2s_shaper that is not defined, and a rate that is not a number', () => {
    assert.deepEqual(problemsOf('shaper_rules:\n  c2s_shaper: slow\n'), [
      {location: '/etc/xmppctl.yml:2:15', key: 'shaper_rules.c2s_shaper', message: 'shaper_rules.c2s_shaper names slow, which is not in shaper (normal, fast)', hint: 'define slow under shaper, name one of those, or write none'},
    ])
    const [problem] = problemsOf('shaper:\n  normal: fast\n')
    assert.equal(problem.message, 'shaper.normal must be a rate in bytes per second, or {rate: BYTES_PER_SECOND, burst_size: BYTES}, not "fast"')
  })
})
