/**
 * The SQLite store of persistent rooms: a room's archive ids never repeat,
 * even when the clock was ahead before a restart.
 */
import assert from 'node:assert/strict'
import path from 'node:path'
import {describe, it} from 'node:test'

import type {RoomConfig} from '../../../src/store/room-store.js'
import {SqliteAccountStore} from '../../../src/store/sqlite/index.js'
import {SqliteRoomStore} from '../../../src/store/sqlite/rooms.js'
import {tempDir} from '../../helpers.js'

const SERVICE = 'conference.example.org'

describe('SqliteRoomStore', () => {
  it('archives after a restart whose clock is behind the last stored id, without reusing or losing an id', async (t) => {
    const dir = path.join(tempDir(t), 'data')
    const accounts = SqliteAccountStore.open(dir)
    t.after(() => accounts.close())
    let rooms = SqliteRoomStore.open(dir)
    await rooms.saveRoom({service: SERVICE, name: 'lounge', config: {} as RoomConfig, subject: '', subjectBy: '', affiliations: new Map()})
    // The clock was an hour ahead when the first message was archived; the server restarts with it set right.
    const ahead = Date.now() + 3_600_000
    t.mock.timers.enable({apis: ['Date'], now: ahead})
    const first = await rooms.archiveMessage(SERVICE, 'lounge', 'alice', '<message>ahead</message>')
    t.mock.timers.reset()
    await rooms.close()
    rooms = SqliteRoomStore.open(dir)
    t.after(() => rooms.close())
    const second = await rooms.archiveMessage(SERVICE, 'lounge', 'bob', '<message>after the restart</message>')
    assert.ok(first !== undefined && second !== undefined)
    assert.ok(BigInt(second) > BigInt(first), `${second} follows ${first}`)
    const stored = await rooms.queryArchive(SERVICE, 'lounge', {}, {max: 10})
    assert.deepEqual(stored?.messages.map((message) => message.stanza), ['<message>ahead</message>', '<message>after the restart</message>'])
  })
})
