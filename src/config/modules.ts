/**
 * The server modules the `modules` key can enable, with their options, in
 * ejabberd's shape (`modules: {mod_roster: {}, mod_version: {show_os: false}}`).
 * Only names and option specs live here, so that configuration validation
 * does not load the server; src/server/modules maps each name to its code.
 */
import type {KeySpec} from './key-spec.js'

/** XEP-0157 §3's fields. */
const SERVER_INFO_FIELDS = [
  'abuse-addresses',
  'admin-addresses',
  'feedback-addresses',
  'sales-addresses',
  'security-addresses',
  'status-addresses',
  'support-addresses',
] as const

export interface ModuleSpec {
  description: string
  options: Record<string, KeySpec>
}

export const MODULES = {
  mod_roster: {description: 'rosters and presence subscriptions (RFC 6121 §2, §3)', options: {}},
  mod_offline: {description: 'messages stored while an account is offline, delivered at its next login (RFC 6121 §8.5.2)', options: {}},
  mod_carbons: {description: 'message carbons (XEP-0280): every resource that asks sees the messages its account sends and receives elsewhere', options: {}},
  mod_disco: {
    description: 'service discovery (XEP-0030) of the server and of accounts',
    options: {
      server_info: {
        spec: {
          type: 'list',
          of: {
            type: 'object',
            keys: {
              name: {spec: {type: 'enum', values: SERVER_INFO_FIELDS}, description: 'the XEP-0157 field', required: true},
              urls: {spec: {type: 'list', of: {type: 'string', nonEmpty: true}, nonEmpty: true}, description: 'mailto:, xmpp: or https: addresses', required: true},
            },
          },
        },
        description: 'contact addresses (XEP-0157), as ejabberd: [{name: abuse-addresses, urls: ["mailto:abuse@example.org"]}]',
        default: [],
      },
    },
  },
  mod_blocking: {
    description: 'blocking command (XEP-0191): blocked JIDs can neither reach the user nor be reached',
    options: {
      max_items: {spec: {type: 'integer', min: 1, max: 100_000}, description: 'JIDs one account may block; a block past it is refused with resource-constraint', default: 1000},
      cache_size: {
        spec: {type: 'integer', min: 1, max: 100_000_000},
        description: 'blocked JIDs kept in memory across accounts, an empty list counting as one; the least recently used lists leave first',
        default: 100_000,
      },
    },
  },
  mod_mam: {
    description: 'message archive (XEP-0313) with stanza ids (XEP-0359): each account\'s chats kept in the store, for its clients to page through',
    options: {
      // ejabberd's default is never, which leaves MAM advertised but empty until each client sets preferences; Prosody archives by default, as clients that sync devices through MAM expect.
      default: {
        spec: {type: 'enum', values: ['always', 'roster', 'never']},
        description: 'what an account archives until it sets its own preferences (XEP-0313 §6): everything, only messages with contacts in its roster, or nothing',
        default: 'always',
      },
      max_page_size: {
        spec: {type: 'integer', min: 1, max: 10_000},
        description: 'messages one query returns at most (XEP-0059 <max/>); a larger <max/> is lowered to it, and 50 is the page without one',
        default: 250,
      },
    },
  },
  mod_ping: {description: 'XMPP ping (XEP-0199)', options: {}},
  mod_http_upload: {
    description: 'HTTP file upload (XEP-0363): slots from upload.HOST, files served at an http listener\'s mod_http_upload path',
    options: {
      host: {spec: {type: 'string', nonEmpty: true}, description: 'the service\'s domain; @HOST@ is each host', default: 'upload.@HOST@'},
      max_size: {spec: {type: 'integer', min: 1, max: 2 ** 40}, description: 'largest file, in bytes', default: 104_857_600},
      user_quota: {spec: {type: 'integer', min: 1, max: 2 ** 50}, description: 'bytes one account\'s uploads may take together', default: 1_073_741_824},
      max_days: {spec: {type: 'integer', min: 0, max: 36_500}, description: 'days a file is kept before `upload purge` (and the server, hourly) removes it; 0: kept forever', default: 30},
      put_url: {spec: {type: 'string', nonEmpty: true}, description: 'base URL of uploads as clients reach it (https://@HOST@:5443/upload); default: the http listener\'s own address'},
    },
  },
  mod_bosh: {
    description: 'XMPP over BOSH (XEP-0124, XEP-0206) at an http listener\'s mod_bosh path',
    options: {
      max_inactivity: {spec: {type: 'integer', min: 5, max: 3600}, description: 'seconds a BOSH session lives with no request held before it ends', default: 30},
      max_wait: {spec: {type: 'integer', min: 1, max: 300}, description: 'the longest wait (seconds) a request is held when nothing is to be sent', default: 60},
      max_hold: {spec: {type: 'integer', min: 1, max: 5}, description: 'requests the server holds at once (hold)', default: 1},
    },
  },
  mod_time: {description: 'entity time (XEP-0202)', options: {}},
  mod_last: {description: 'last activity of contacts and server uptime (XEP-0012)', options: {}},
  mod_vcard: {
    description: 'vCards (XEP-0054 vcard-temp): each account stores its own, anyone may read it',
    options: {max_size: {spec: {type: 'integer', min: 1024, max: 16 * 1024 * 1024}, description: 'bytes of one vCard; a larger one is refused (not-acceptable)', default: 262_144}},
  },
  mod_client_state: {
    description: 'client state indication (XEP-0352): while a client says it is inactive, what can wait is held and sent with the next thing that cannot',
    options: {
      queue_presence: {spec: {type: 'boolean'}, description: 'hold presence broadcasts (only the latest from each resource is kept)', default: true},
      queue_chat_states: {spec: {type: 'boolean'}, description: 'hold messages that carry only a chat state (XEP-0085 "is typing")', default: true},
    },
  },
  mod_stream_mgmt: {
    description: 'stream management (XEP-0198): acknowledgements, and resumption of a session whose connection was lost; unacknowledged messages of a session that is not resumed go to offline storage',
    options: {
      resume_timeout: {
        spec: {type: 'integer', min: 0, max: 86_400},
        description: 'seconds a session whose connection was lost waits for its client to resume it, unless the client asks for less (or for more, up to max_resume_timeout); 0: no resumption unless a client asks for some within max_resume_timeout',
        default: 300,
      },
      max_resume_timeout: {
        spec: {type: 'integer', min: 0, max: 86_400},
        description: 'seconds a client may ask a session to wait (XEP-0198 max); a longer request is lowered to it. Unset, or below resume_timeout: resume_timeout',
      },
      max_ack_queue: {
        spec: {type: 'integer', min: 1, max: 1_000_000},
        description: 'stanzas sent to a client and not yet acknowledged; one more ends its stream (policy-violation)',
        default: 5000,
      },
    },
  },
  mod_private: {
    description: 'private XML storage (XEP-0049), where older clients keep their bookmarks (XEP-0048)',
    options: {
      max_size: {spec: {type: 'integer', min: 1024, max: 16 * 1024 * 1024}, description: 'bytes of one stored element; a larger one is refused (not-acceptable)', default: 262_144},
      max_total_size: {
        spec: {type: 'integer', min: 1024, max: 1024 * 1024 * 1024},
        description: 'bytes of all of one account\'s elements together; a set beyond is refused (resource-constraint)',
        default: 1_048_576,
      },
    },
  },
  mod_pep: {
    description: 'personal eventing (XEP-0163): each account publishes nicknames, avatars, OMEMO keys, bookmarks… to its contacts whose clients ask for them',
    options: {
      max_items_node: {spec: {type: 'integer', min: 1, max: 10_000}, description: 'items one node keeps at most; a higher pubsub#max_items is refused', default: 256},
      max_payload_size: {spec: {type: 'integer', min: 1024, max: 16 * 1024 * 1024}, description: 'bytes of one published item; a larger one is refused (not-acceptable, payload-too-big)', default: 262_144},
      max_nodes: {spec: {type: 'integer', min: 1, max: 100_000}, description: 'nodes one account may have; one more is refused (policy-violation)', default: 256},
      max_total_size: {
        spec: {type: 'integer', min: 1024, max: 1024 * 1024 * 1024},
        description: 'bytes of all of one account\'s items together; a publish beyond is refused (policy-violation)',
        default: 16 * 1024 * 1024,
      },
      caps_cache_size: {spec: {type: 'integer', min: 1, max: 1_000_000}, description: 'verified entity capabilities (XEP-0115) kept in memory; the least recently used leave first', default: 1000},
      max_subscriptions_node: {spec: {type: 'integer', min: 1, max: 1_000_000}, description: 'explicit subscriptions (XEP-0060 §6.1) one node keeps; one more is refused (policy-violation)', default: 1000},
    },
  },
  mod_register: {
    description: 'in-band password change and account removal by a logged-in user (XEP-0077 §3.2, §3.3); registration of new accounts stays off',
    options: {
      password_strength: {
        spec: {type: 'integer', min: 0, max: 1000},
        description: 'minimum entropy in bits of a new password, computed as ejabberd does (length × log2 of the character classes used); 0 accepts any non-empty password',
        default: 0,
      },
      access_remove: {
        spec: {type: 'enum', values: ['all', 'none']},
        description: 'who may remove their own account in-band: all, or none (ejabberd\'s two built-in access rules)',
        default: 'all',
      },
    },
  },
  mod_muc: {
    description: 'multi-user chat (XEP-0045) on conference.HOST: rooms with nicknames, roles and affiliations, history, configuration, invitations; persistent rooms in the store',
    options: {
      host: {spec: {type: 'string', nonEmpty: true}, description: 'the service\'s domain; @HOST@ stands for each host', default: 'conference.@HOST@'},
      access_create: {
        spec: {type: 'enum', values: ['all', 'local', 'none']},
        description: 'who may create a room by joining it: anyone, this server\'s accounts (ejabberd\'s muc_create rule), or nobody',
        default: 'local',
      },
      max_users: {spec: {type: 'integer', min: 1, max: 100_000}, description: 'occupants one room holds at most, whatever its configuration says', default: 200},
      history_size: {spec: {type: 'integer', min: 0, max: 1000}, description: 'messages a room keeps to send new occupants at most', default: 20},
      default_room_options: {
        spec: {
          type: 'object',
          keys: {
            title: {spec: {type: 'string'}, description: 'the room\'s name', default: ''},
            description: {spec: {type: 'string'}, description: 'the room\'s description', default: ''},
            persistent: {spec: {type: 'boolean'}, description: 'the room stays when its last occupant leaves', default: false},
            public: {spec: {type: 'boolean'}, description: 'listed in the service\'s rooms (disco#items)', default: true},
            members_only: {spec: {type: 'boolean'}, description: 'only members may join', default: false},
            moderated: {spec: {type: 'boolean'}, description: 'newcomers without an affiliation join as visitors, without voice', default: false},
            anonymous: {spec: {type: 'boolean'}, description: 'only moderators see occupants\' real JIDs (semi-anonymous); false: everyone does', default: true},
            allow_change_subj: {spec: {type: 'boolean'}, description: 'participants may change the subject, not only moderators', default: true},
            allow_private_messages: {spec: {type: 'boolean'}, description: 'occupants may send each other private messages', default: true},
            allow_user_invites: {spec: {type: 'boolean'}, description: 'participants may invite others to a members-only room, not only admins', default: false},
            max_users: {spec: {type: 'integer', min: 1, max: 100_000}, description: 'occupants a new room holds (at most the module\'s max_users)', default: 200},
            mam: {spec: {type: 'boolean'}, description: 'a persistent room keeps its messages in its archive (XEP-0313), for clients to page through', default: true},
          },
        },
        description: 'the configuration of a new room, in ejabberd\'s names; owners change it with the room configuration form',
        default: {
          title: '',
          description: '',
          persistent: false,
          public: true,
          members_only: false,
          moderated: false,
          anonymous: true,
          allow_change_subj: true,
          allow_private_messages: true,
          allow_user_invites: false,
          max_users: 200,
          mam: true,
        },
      },
    },
  },
  mod_version: {
    description: 'software version (XEP-0092); off by default, since it helps attackers choose exploits',
    options: {show_os: {spec: {type: 'boolean'}, description: 'include the operating system', default: false}},
  },
} as const satisfies Record<string, ModuleSpec>

export type ModuleName = keyof typeof MODULES

/** A module's options with their defaults, as validation fills them in. */
export function optionDefaults(name: ModuleName): Record<string, unknown> {
  const options: Record<string, KeySpec> = MODULES[name].options
  return Object.fromEntries(Object.entries(options).filter(([, spec]) => spec.default !== undefined).map(([option, spec]) => [option, structuredClone(spec.default)]))
}

/** What `modules` holds when the configuration has no such key: the full IM set, without mod_version. */
export const DEFAULT_MODULES: Partial<Record<ModuleName, Record<string, unknown>>> = {
  mod_roster: {},
  mod_offline: {},
  mod_carbons: {},
  mod_disco: {server_info: []},
  mod_blocking: optionDefaults('mod_blocking'),
  mod_mam: optionDefaults('mod_mam'),
  mod_ping: {},
  mod_bosh: optionDefaults('mod_bosh'),
  mod_time: {},
  mod_last: {},
  mod_vcard: optionDefaults('mod_vcard'),
  mod_private: optionDefaults('mod_private'),
  mod_pep: optionDefaults('mod_pep'),
  mod_register: optionDefaults('mod_register'),
  mod_client_state: optionDefaults('mod_client_state'),
  mod_stream_mgmt: optionDefaults('mod_stream_mgmt'),
  mod_muc: optionDefaults('mod_muc'),
}

/** The modules that serve a domain of their own. */
const SERVICE_MODULES = ['mod_muc', 'mod_http_upload'] as const satisfies readonly ModuleName[]

/** The domain module `name` serves for `host`: its `host` option (ejabberd's), `@HOST@` standing for the host. */
export function serviceDomain(name: (typeof SERVICE_MODULES)[number], options: Record<string, unknown>, host: string): string {
  return String(options.host ?? optionDefaults(name).host).replaceAll('@HOST@', host)
}

/** The domains `host`'s enabled services answer at (conference.HOST, upload.HOST), as `modules` configures them. */
export function serviceDomains(modules: Partial<Record<ModuleName, Record<string, unknown>>>, host: string): string[] {
  return SERVICE_MODULES.flatMap((name) => (modules[name] === undefined ? [] : [serviceDomain(name, modules[name], host)]))
}

/** The labels that put `domain` below `host` (conference for conference.HOST), as `cert generate --with-subdomains` takes them; undefined for a domain elsewhere. */
export function labelsBelow(domain: string, host: string): string | undefined {
  return domain.endsWith(`.${host}`) ? domain.slice(0, -host.length - 1) : undefined
}
