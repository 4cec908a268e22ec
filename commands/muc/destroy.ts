import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../../src/cli/base-command.js'
import {manageRooms} from '../../src/rooms/index.js'

type MucDestroyResult = {jid: string; destroyed: boolean; kicked: number; live: boolean}

export default class MucDestroy extends BaseCommand<MucDestroyResult> {
  static description = `Destroy a room, as ejabberdctl destroy_room

Its occupants leave with the reason given (XEP-0045 §10.9), and the room, its configuration and its affiliations are deleted from the store.`

  static examples = ['<%= config.bin %> <%= command.id %> tea@conference.example.org --reason "moved to cakes@conference.example.org"']
  static args = {room: Args.string({required: true, description: 'the room, as room@service'})}
  static flags = {reason: Flags.string({description: 'the reason occupants are told', helpValue: 'TEXT'})}

  async run(): Promise<MucDestroyResult> {
    const {args, flags: f} = await this.parse(MucDestroy)
    const {result, live} = await manageRooms(await this.loadConfiguration(), {action: 'destroy', room: args.room, reason: f.reason})
    const {jid, kicked = 0} = result as {jid: string; kicked?: number}
    this.log(`destroyed ${jid}${kicked > 0 ? ` (${kicked} occupant${kicked === 1 ? '' : 's'} removed)` : ''}`)
    return {jid, destroyed: true, kicked, live}
  }
}
