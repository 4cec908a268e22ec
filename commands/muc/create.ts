import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../../src/cli/base-command.js'
import {manageRooms} from '../../src/rooms/index.js'

type MucCreateResult = {jid: string; created: boolean; live: boolean}

export default class MucCreate extends BaseCommand<MucCreateResult> {
  static description = `Create a persistent room, as ejabberdctl create_room

The room takes mod_muc's default_room_options, and is persistent so that it waits for its first occupants. With --owner, that account owns it and may configure it from a client.`

  static examples = ['<%= config.bin %> <%= command.id %> tea@conference.example.org --owner alice@example.org --name "Tea party"', '<%= config.bin %> <%= command.id %> support@conference.example.org --json']
  static args = {room: Args.string({required: true, description: 'the room, as room@service'})}
  static flags = {
    owner: Flags.string({description: 'bare JID of the room\'s owner', helpValue: 'JID'}),
    name: Flags.string({description: 'the room\'s name, shown in room lists', helpValue: 'NAME'}),
  }

  async run(): Promise<MucCreateResult> {
    const {args, flags: f} = await this.parse(MucCreate)
    const {result, live} = await manageRooms(await this.loadConfiguration(), {action: 'create', room: args.room, owner: f.owner, name: f.name})
    const {jid} = result as {jid: string}
    this.log(`created ${jid}${f.owner ? `, owned by ${f.owner}` : ''}`)
    return {jid, created: true, live}
  }
}
