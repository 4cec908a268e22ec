import {Args, Flags} from '@oclif/core'

import {type RosterChange, SUBSCRIPTIONS, addRosterItem} from '../../src/accounts/data.js'
import {BaseCommand} from '../../src/cli/base-command.js'

type RosterAddResult = RosterChange & {pushed?: number}

export default class RosterAdd extends BaseCommand<RosterAddResult> {
  static description = `Add a contact to an account's roster, or change its item, as ejabberdctl add_rosteritem

Only this account's roster changes: no subscription request is sent, and the contact's roster stays as it is. The roster limits of the server (max_roster_items, max_roster_bytes) apply. Name and groups replace those stored; the subscription is kept unless --subscription is given. A running server pushes the item to the account's online clients (RFC 6121 §2.1.6); without one, clients see it when they next fetch the roster.`

  static examples = [
    '<%= config.bin %> <%= command.id %> alice@example.org bob@example.org --name Bob --group Friends --group Work',
    '<%= config.bin %> <%= command.id %> alice@example.org bob@example.org --subscription both --json',
  ]

  static args = {
    jid: Args.string({required: true, description: 'bare JID of the account'}),
    contact: Args.string({required: true, description: "the contact's bare JID"}),
  }

  static flags = {
    name: Flags.string({description: 'the name shown for the contact'}),
    group: Flags.string({description: 'a group of the contact (repeat for several)', multiple: true}),
    subscription: Flags.string({description: 'the subscription state to store', options: [...SUBSCRIPTIONS]}),
  }

  async run(): Promise<RosterAddResult> {
    const {args, flags: f} = await this.parse(RosterAdd)
    const change = await addRosterItem(await this.accountData(), args.jid, args.contact, {
      name: f.name,
      groups: f.group,
      subscription: f.subscription as (typeof SUBSCRIPTIONS)[number] | undefined,
    })
    this.log(`${change.contact} is in the roster of ${change.jid} (subscription ${change.item!.subscription})`)
    const pushed = await this.tellServerRosterChanged(change.jid, change.contact)
    return pushed === undefined ? change : {...change, pushed}
  }
}
