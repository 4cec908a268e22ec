import {BaseCommand} from '../../src/cli/base-command.js'
import {formatTable} from '../../src/cli/output.js'
import {type RoomSummary, manageRooms} from '../../src/rooms/index.js'

type MucListResult = {rooms: RoomSummary[]; live: boolean}

export default class MucList extends BaseCommand<MucListResult> {
  static description = `List the group chat rooms (XEP-0045), as ejabberdctl muc_online_rooms

With a server running, every room it holds (persistent, or temporary with occupants) and its occupants now; without one, the persistent rooms of the store. With --json, prints {rooms: [{jid, name, persistent, public, occupants}], live}.`

  static examples = ['<%= config.bin %> <%= command.id %>', "<%= config.bin %> <%= command.id %> --json | jq -r '.rooms[] | select(.occupants > 0) | .jid'"]

  async run(): Promise<MucListResult> {
    await this.parse(MucList)
    const {result, live} = await manageRooms(await this.loadConfiguration(), {action: 'list'})
    const rooms = result as RoomSummary[]
    if (rooms.length === 0) this.log(live ? 'no rooms' : 'no persistent rooms (no server is running: temporary rooms exist only in a running server)')
    else this.log(formatTable(['ROOM', 'NAME', 'PERSISTENT', 'PUBLIC', 'OCCUPANTS'], rooms.map((room) => [room.jid, room.name, room.persistent ? 'yes' : 'no', room.public ? 'yes' : 'no', live ? String(room.occupants) : '-'])))
    return {rooms, live}
  }
}
