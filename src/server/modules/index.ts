/**
 * The modules the server can run, by their configuration name, and the
 * list of those the configuration enables, in the order their hooks run
 * (offline delivery after the roster's presence, carbons of a message before
 * mod_offline stores it, for instance).
 */
import {type ModuleName, optionDefaults} from '../../config/modules.js'
import type {ArchiveMode} from '../../store/archive-store.js'
import type {RosterLimits} from '../../store/roster-store.js'
import {createBlockingModule} from './blocking.js'
import {createCarbonsModule} from './carbons.js'
import {createClientStateModule} from './client-state.js'
import {createDiscoModule} from './disco.js'
import {createHttpUploadModule} from './http-upload.js'
import {createLastModule} from './last.js'
import {createMamModule} from './mam.js'
import {defaultRoomConfig} from '../muc/admin.js'
import {createMucModule} from './muc.js'
import {createOfflineModule} from './offline.js'
import {createPepModule} from './pep.js'
import {createPingModule} from './ping.js'
import {createPrivateModule} from './private.js'
import {createRegisterModule} from './register.js'
import {createRosterModule} from './roster.js'
import {createStreamMgmtModule} from './stream-mgmt.js'
import {createTimeModule} from './time.js'
import type {ModuleContext, ServerModule} from './types.js'
import {createVcardModule} from './vcard.js'
import {createVersionModule} from './version.js'

/** Limits set by top-level keys (max_roster_items, …) rather than by a module's options. */
export interface ModuleLimits {
  roster: RosterLimits
  offlineMessages: number
}

/** `limits` is read at each use, so that a reload's new values apply. */
type Factory = (context: ModuleContext, options: Record<string, unknown>, limits: () => ModuleLimits) => ServerModule

const FACTORIES: Record<ModuleName, Factory> = {
  // First: what a blocklist stops, no other module sees.
  mod_blocking: (context, options) =>
    createBlockingModule(context, {
      maxItems: options.max_items as number,
      cacheSize: options.cache_size as number,
    }),
  // No stanza hook; its <sm/> leads the modules' stream features. Its options are the sessions' limits (server.ts).
  mod_stream_mgmt: () => createStreamMgmtModule(),
  mod_roster: (context, _options, limits) =>
    createRosterModule(context, {
      get limits() {
        return limits().roster
      },
    }),
  // Its stanza id is added as a message is routed, before delivery: carbons and offline storage copy the message with it.
  mod_mam: (context, options) => createMamModule(context, {defaultMode: options.default as ArchiveMode, maxPageSize: options.max_page_size as number}),
  mod_carbons: (context) => createCarbonsModule(context),
  mod_offline: (context, _options, limits) =>
    createOfflineModule(context, {
      get limit() {
        return limits().offlineMessages
      },
    }),
  mod_disco: (context, options) => createDiscoModule(context, {serverInfo: (options.server_info as Array<{name: string; urls: string[]}> | undefined) ?? []}),
  mod_ping: () => createPingModule(),
  mod_http_upload: (context, options) =>
    createHttpUploadModule(context, {
      host: options.host as string,
      maxSize: options.max_size as number,
      userQuota: options.user_quota as number,
      putUrl: options.put_url as string | undefined,
    }),
  // Nothing in the router: its options are the BOSH endpoint's (server.ts, bosh.ts).
  mod_bosh: () => ({name: 'mod_bosh'}),
  mod_time: () => createTimeModule(),
  mod_last: (context) => createLastModule(context),
  mod_vcard: (context, options) => createVcardModule(context, {maxSize: options.max_size as number}),
  mod_private: (context, options) => createPrivateModule(context, {maxSize: options.max_size as number, maxTotalSize: options.max_total_size as number}),
  mod_pep: (context, options) =>
    createPepModule(context, {
      maxItemsNode: options.max_items_node as number,
      maxPayloadSize: options.max_payload_size as number,
      maxNodes: options.max_nodes as number,
      maxTotalSize: options.max_total_size as number,
      capsCacheSize: options.caps_cache_size as number,
      maxSubscriptionsNode: options.max_subscriptions_node as number,
    }),
  mod_register: (context, options) => createRegisterModule(context, {passwordStrength: options.password_strength as number, allowRemove: options.access_remove === 'all'}),
  mod_client_state: (_context, options) => createClientStateModule({queuePresence: options.queue_presence === true, queueChatStates: options.queue_chat_states === true}),
  mod_version: (context, options) => createVersionModule(context, {showOs: options.show_os === true}),
  mod_muc: (context, options) =>
    createMucModule(context, {
      host: options.host as string,
      accessCreate: options.access_create as 'all' | 'local' | 'none',
      maxUsers: options.max_users as number,
      historySize: options.history_size as number,
      defaultRoom: defaultRoomConfig(options),
    }),
}

/** Hook order: the order of FACTORIES, whatever order the configuration lists them in. */
const ORDER = Object.keys(FACTORIES) as ModuleName[]

/** One factory per enabled module, each bound to its options (defaults filled in, for settings built in code) and to `limits`. */
export function enabledModules(modules: Partial<Record<ModuleName, Record<string, unknown>>>, limits: () => ModuleLimits): Array<(context: ModuleContext) => ServerModule> {
  return ORDER.filter((name) => modules[name] !== undefined).map((name) => (context: ModuleContext) => FACTORIES[name](context, {...optionDefaults(name), ...modules[name]}, limits))
}
