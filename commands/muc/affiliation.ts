import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../../src/cli/base-command.js'
import {manageRooms} from '../../src/rooms/index.js'

const AFFILIATIONS = ['owner', 'admin', 'member', 'outcast', 'none'] as const

type MucAffiliationResult = {jid: string; member: string; affiliation: (typeof AFFILIATIONS)[number]; live: boolean}

export default class MucAffiliation extends BaseCommand<MucAffiliationResult> {
  static description = `Set a JID's affiliation with a room, as ejabberdctl set_room_affiliation

owner, admin, member, outcast (banned) or none. In a running server, occupants of that JID see the change at once: a ban removes them (status 301), and losing membership of a members-only room too (321).`

  static examples = ['<%= config.bin %> <%= command.id %> tea@conference.example.org bob@example.org member', '<%= config.bin %> <%= command.id %> tea@conference.example.org spammer@example.net outcast --reason spam']
  static args = {
    room: Args.string({required: true, description: 'the room, as room@service'}),
    jid: Args.string({required: true, description: 'the bare JID (or domain) whose affiliation changes'}),
    affiliation: Args.string({required: true, description: 'the new affiliation', options: [...AFFILIATIONS]}),
  }

  static flags = {reason: Flags.string({description: 'the reason stored with a ban and told to removed occupants', helpValue: 'TEXT'})}

  async run(): Promise<MucAffiliationResult> {
    const {args, flags: f} = await this.parse(MucAffiliation)
    const affiliation = args.affiliation as (typeof AFFILIATIONS)[number]
    const {result, live} = await manageRooms(await this.loadConfiguration(), {action: 'affiliation', room: args.room, jid: args.jid, affiliation, reason: f.reason})
    const {jid} = result as {jid: string}
    this.log(`${args.jid} is now ${affiliation === 'none' ? 'without affiliation' : affiliation === 'outcast' ? 'banned' : `${affiliation === 'admin' || affiliation === 'owner' ? 'an' : 'a'} ${affiliation}`} in ${jid}`)
    return {jid, member: args.jid, affiliation, live}
  }
}
