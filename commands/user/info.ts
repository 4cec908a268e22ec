import {Args} from '@oclif/core'

import {accountDataCounts} from '../../src/accounts/data.js'
import {type AccountInfo, resolveAccount, userInfo} from '../../src/accounts/index.js'
import {BaseCommand} from '../../src/cli/base-command.js'
import {formatRecord} from '../../src/cli/output.js'
import type {AccountDataCounts} from '../../src/store/account-data-store.js'

type UserInfoResult = AccountInfo & {data: AccountDataCounts}

/** How each area of stored data reads in the human output; an area without a label shows under its key. */
const AREA_LABELS: Record<string, string> = {
  rosterItems: 'roster items',
  subscriptionRequests: 'pending requests',
  offlineMessages: 'offline messages',
  vcard: 'vcard',
  privateItems: 'private items',
  blockedJids: 'blocked jids',
  lastActivity: 'last activity',
  pepNodes: 'pep nodes',
  pepItems: 'pep items',
  archivedMessages: 'archived messages',
  archivePreferences: 'archive preferences',
}

export default class UserInfo extends BaseCommand<UserInfoResult> {
  static description = `Show an account: state, stored hashes, iterations, creation time, and how much server data it keeps

Never shows secrets: only which kinds of credentials are stored. The data counts (roster items, pending subscription requests, offline messages, vCard, private XML items, blocked JIDs, last activity, PEP nodes and items, archived messages and archive preferences) are read in one transaction.`

  static examples = ['<%= config.bin %> <%= command.id %> alice@example.org', '<%= config.bin %> <%= command.id %> alice@example.org --json']
  static args = {jid: Args.string({required: true, description: 'bare JID of the account'})}

  async run(): Promise<UserInfoResult> {
    const {args} = await this.parse(UserInfo)
    const context = await this.accountData()
    const info = await userInfo(context, args.jid)
    const data = await accountDataCounts(context, resolveAccount(context.config, args.jid))
    this.log(
      formatRecord([
        ['jid', info.jid],
        ['state', info.state === 'disabled' && info.disabledReason ? `disabled (${info.disabledReason})` : info.state],
        ['created', info.createdAt],
        ['scram', info.hashes.length > 0 ? info.hashes.join(', ') : 'none'],
        ['iterations', info.iterations === undefined ? '-' : String(info.iterations)],
        ['plaintext', info.plaintext ? 'yes (run "xmppctl scram convert" to replace it)' : 'no'],
        ...Object.entries(data).map(([area, count]) => [AREA_LABELS[area] ?? area, String(count)] as const),
      ]),
    )
    return {...info, data}
  }
}
