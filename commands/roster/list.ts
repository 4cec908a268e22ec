import {Args} from '@oclif/core'

import {type RosterEntry, listRoster} from '../../src/accounts/data.js'
import {BaseCommand} from '../../src/cli/base-command.js'
import {formatTable} from '../../src/cli/output.js'

type RosterListResult = {jid: string; items: RosterEntry[]}

export default class RosterList extends BaseCommand<RosterListResult> {
  static description = `List an account's roster, as ejabberdctl get_roster

One row per contact: its JID, name, subscription (none, to, from, both), ask ("out" while a subscription request to the contact waits for an answer) and groups. With --json, prints {jid, items: [{contact, name, subscription, ask, groups}]}.`

  static examples = ['<%= config.bin %> <%= command.id %> alice@example.org', "<%= config.bin %> <%= command.id %> alice@example.org --json | jq -r '.items[] | select(.subscription == \"both\") | .contact'"]
  static args = {jid: Args.string({required: true, description: 'bare JID of the account'})}

  async run(): Promise<RosterListResult> {
    const {args} = await this.parse(RosterList)
    const roster = await listRoster(await this.accountData(), args.jid)
    if (roster.items.length === 0) {
      this.log(`the roster of ${roster.jid} is empty`)
      return roster
    }

    this.log(formatTable(['CONTACT', 'NAME', 'SUBSCRIPTION', 'ASK', 'GROUPS'], roster.items.map((item) => [item.contact, item.name, item.subscription, item.ask, item.groups.join(', ')])))
    return roster
  }
}
