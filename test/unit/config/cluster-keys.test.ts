/** The cluster's keys (sm_db_type: redis, redis_*, cluster.node): ejabberd's names, and what a cluster needs. */
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {parseConfig} from '../../../src/config/index.js'
import {problemsOf} from './problems.js'

describe('cluster keys', () => {
  it('default to one process with no Redis', () => {
    const {settings} = parseConfig('hosts: [example.org]\n', '/etc/xmppctl.yml')
    assert.deepEqual([settings.sm_db_type, settings.redis_server, settings.redis_port, settings.redis_db, settings.cluster], ['internal', 'localhost', 6379, 0, undefined])
  })

  it('accept a node of a cluster on PostgreSQL', () => {
    const {settings} = parseConfig('sql_type: pgsql\nsm_db_type: redis\nredis_server: 10.0.0.5\nredis_port: 6380\nredis_db: 2\nredis_password_file: ./redis.pw\ncluster: {node: xmpp-1}\n', '/etc/xmppctl.yml')
    assert.deepEqual([settings.sm_db_type, settings.redis_server, settings.redis_port, settings.redis_db, settings.redis_password_file, settings.cluster], ['redis', '10.0.0.5', 6380, 2, './redis.pw', {node: 'xmpp-1', workers: 1}])
  })

  it('accept workers: N or auto on a cluster, and refuse them without one', () => {
    const cluster = 'sql_type: pgsql\nsm_db_type: redis\ncluster: {node: xmpp, workers: %}\n'
    assert.deepEqual(parseConfig(cluster.replace('%', '4'), '/etc/xmppctl.yml').settings.cluster, {node: 'xmpp', workers: 4})
    assert.deepEqual(parseConfig(cluster.replace('%', 'auto'), '/etc/xmppctl.yml').settings.cluster, {node: 'xmpp', workers: 'auto'})
    // workers: 1 is one process, as without cluster.workers: nothing else needed.
    assert.deepEqual(parseConfig('cluster: {workers: 1}\n', '/etc/xmppctl.yml').settings.cluster, {workers: 1})
    assert.deepEqual(problemsOf('cluster: {node: a, workers: auto}\n'), [
      {location: '/etc/xmppctl.yml:1:29', key: 'cluster.workers', message: 'cluster.workers: auto runs several nodes, which need sm_db_type: redis and sql_type: pgsql', hint: 'set sm_db_type: redis with the redis_* keys and sql_type: pgsql with the sql_* keys, or workers: 1'},
    ])
    assert.match(problemsOf(cluster.replace('%', '0'))[0].message, /^cluster\.workers must be an integer ≥ 1 and ≤ 1024, or auto, not 0/)
    assert.deepEqual(problemsOf(cluster.replace('xmpp', 'x'.repeat(62)).replace('%', '12')), [
      {location: '/etc/xmppctl.yml:3:90', key: 'cluster.node', message: `cluster.node ${'x'.repeat(62)} is too long for workers: 12: worker names (${'x'.repeat(62)}-1 to ${'x'.repeat(62)}-12) must be at most 64 characters`, hint: 'shorten cluster.node to at most 61 characters'},
    ])
  })

  it('refuse sm_db_type: redis on SQLite, naming the fix', () => {
    assert.deepEqual(problemsOf('sm_db_type: redis\ncluster: {node: a}\n'), [
      {location: '/etc/xmppctl.yml:1:13', key: 'sm_db_type', message: 'sm_db_type: redis needs a store every node shares', hint: 'set sql_type: pgsql (and the sql_* keys), or sm_db_type: internal'},
    ])
  })

  it('refuse sm_db_type: redis without a node name, and a name that is not one', () => {
    assert.deepEqual(problemsOf('sql_type: pgsql\nsm_db_type: redis\n'), [
      {location: '/etc/xmppctl.yml:2:13', key: 'cluster.node', message: "sm_db_type: redis needs this node's name", hint: 'add cluster: {node: NAME}, a name unique in the cluster that this node keeps across restarts'},
    ])
    assert.match(problemsOf('sql_type: pgsql\nsm_db_type: redis\ncluster: {node: "a b"}\n')[0].message, /^cluster\.node must be 1 to 64 letters, digits, dots, underscores or hyphens/)
  })
})
