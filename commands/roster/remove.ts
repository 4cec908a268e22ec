import {Args} from '@oclif/core'

import {type RosterChange, removeRosterItem} from '../../src/accounts/data.js'
import {BaseCommand} from '../../src/cli/base-command.js'

type RosterRemoveResult = RosterChange & {pushed?: number}

export default class RosterRemove extends BaseCommand<RosterRemoveResult> {
  static description = `Remove a contact from an account's roster, as ejabberdctl delete_rosteritem

Only the item goes: no unsubscribe or unsubscribed presence is sent, so the contact's roster stays as it is. A running server pushes the removal to the account's online clients (RFC 6121 §2.1.6); without one, clients see it when they next fetch the roster.`

  static examples = ['<%= config.bin %> <%= command.id %> alice@example.org bob@example.org']
  static args = {
    jid: Args.string({required: true, description: 'bare JID of the account'}),
    contact: Args.string({required: true, description: "the contact's bare JID"}),
  }

  async run(): Promise<RosterRemoveResult> {
    const {args} = await this.parse(RosterRemove)
    const change = await removeRosterItem(await this.accountData(), args.jid, args.contact)
    this.log(`removed ${change.contact} from the roster of ${change.jid}`)
    const pushed = await this.tellServerRosterChanged(change.jid, change.contact)
    return pushed === undefined ? change : {...change, pushed}
  }
}
