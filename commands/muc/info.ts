import {Args} from '@oclif/core'

import {BaseCommand} from '../../src/cli/base-command.js'
import {formatTable} from '../../src/cli/output.js'
import {type RoomInfo, manageRooms} from '../../src/rooms/index.js'

export default class MucInfo extends BaseCommand<RoomInfo> {
  static description = `Show a room's configuration, subject, affiliations and occupants, as ejabberdctl get_room_options and get_room_occupants

The password is shown as "(set)", never in clear. With --json, prints {jid, name, persistent, public, occupants, config, subject, occupantList, affiliations}.`

  static examples = ['<%= config.bin %> <%= command.id %> tea@conference.example.org', '<%= config.bin %> <%= command.id %> tea@conference.example.org --json']
  static args = {room: Args.string({required: true, description: 'the room, as room@service'})}

  async run(): Promise<RoomInfo> {
    const {args} = await this.parse(MucInfo)
    const {result} = await manageRooms(await this.loadConfiguration(), {action: 'info', room: args.room})
    const info = result as RoomInfo
    const config = info.config
    this.log(
      formatTable(
        ['SETTING', 'VALUE'],
        [
          ['name', config.name],
          ['description', config.description],
          ['subject', info.subject],
          ['persistent', config.persistent ? 'yes' : 'no'],
          ['public', config.public ? 'yes' : 'no'],
          ['members only', config.membersOnly ? 'yes' : 'no'],
          ['moderated', config.moderated ? 'yes' : 'no'],
          ['password', config.password === '' ? 'none' : config.password],
          ['real JIDs seen by', config.whois],
          ['max users', String(config.maxUsers)],
          ['history', `${config.historySize} messages`],
        ],
      ),
    )
    if (info.affiliations.length > 0) this.log(`\n${formatTable(['JID', 'AFFILIATION', 'REASON'], info.affiliations.map((entry) => [entry.jid, entry.affiliation, entry.reason]))}`)
    if (info.occupantList.length > 0) this.log(`\n${formatTable(['NICK', 'JID', 'ROLE', 'AFFILIATION'], info.occupantList.map((entry) => [entry.nick, entry.jid, entry.role, entry.affiliation]))}`)
    return info
  }
}
