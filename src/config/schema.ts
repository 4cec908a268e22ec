/**
 * Every configuration key xmppctl knows, its type, allowed values and default.
 * Key names follow ejabberd's where one exists (DESIGN.md "Configuration").
 */

import type {KeySpec, ValueSpec} from './key-spec.js'
import {DEFAULT_MODULES, MODULES, type ModuleName} from './modules.js'

export const SCRAM_HASH_NAMES = ['sha1', 'sha256', 'sha512'] as const
export const AUTH_METHODS = ['internal', 'external', 'saslauthd', 'pam', 'jwt', 'anonymous', 'ldap', 'gssapi'] as const
/** Methods ejabberd and Prosody know that this version does not serve yet: named so the error can say so. */
export const UNSUPPORTED_AUTH_METHODS: Readonly<Record<string, string>> = {}
/** xmppctl's own methods, or one an installed auth plugin provides (src/plugins). */
export type AuthMethodName = (typeof AUTH_METHODS)[number] | (string & {})
/** ejabberd's `loglevel` names, and `warn` for `warning`. */
export const LOG_LEVEL_NAMES = ['error', 'warning', 'warn', 'info', 'debug'] as const
export type LogLevelName = (typeof LOG_LEVEL_NAMES)[number]
export const TLS_VERSIONS = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'] as const
export const SASL_MECHANISMS = [
  'PLAIN',
  'ANONYMOUS',
  'EXTERNAL',
  'GSSAPI',
  'X-OAUTH2',
  'SCRAM-SHA-1',
  'SCRAM-SHA-1-PLUS',
  'SCRAM-SHA-256',
  'SCRAM-SHA-256-PLUS',
  'SCRAM-SHA-512',
  'SCRAM-SHA-512-PLUS',
] as const

const string: ValueSpec = {type: 'string', nonEmpty: true}
const port: ValueSpec = {type: 'integer', min: 1, max: 65_535}
const seconds: ValueSpec = {type: 'integer', min: 1, max: 86_400}

/** ejabberd's names for what an http listener serves at a path. */
export const HTTP_HANDLERS = ['ejabberd_http_ws', 'mod_bosh', 'mod_http_upload'] as const
export type HttpHandlerName = (typeof HTTP_HANDLERS)[number]

const listener: ValueSpec = {
  type: 'object',
  keys: {
    port: {spec: port, description: 'TCP port to listen on', required: true},
    ip: {spec: string, description: 'address to bind', default: '::'},
    module: {spec: {type: 'enum', values: ['c2s', 's2s', 'http']}, description: 'what the listener serves: clients (c2s), other servers (s2s, federation), or http (WebSocket, BOSH, upload)', default: 'c2s'},
    starttls: {
      spec: {type: 'enum', values: ['required', 'optional', 'disabled']},
      description: 'STARTTLS on a plain listener',
      default: 'required',
    },
    tls: {spec: {type: 'boolean'}, description: 'direct TLS (XEP-0368); on an http listener, HTTPS', default: false},
    request_handlers: {
      spec: {type: 'map', of: {type: 'enum', values: HTTP_HANDLERS}},
      description: 'on an http listener, what each path serves, by ejabberd\'s handler names: {/ws: ejabberd_http_ws, /bosh: mod_bosh, /upload: mod_http_upload}',
    },
  },
}

/** A peer's address in `s2s_addresses`: {host, port, tls} (tls: direct TLS, XEP-0368). */
const s2sAddress: ValueSpec = {
  type: 'object',
  keys: {
    host: {spec: string, description: 'IP address or host name of the peer', required: true},
    port: {spec: port, description: 'its s2s port', default: 5269},
    tls: {spec: {type: 'boolean'}, description: 'direct TLS (XEP-0368) instead of STARTTLS', default: false},
  },
}

/** Keys that may appear at top level; `perHost` ones also under `host_config.HOST`. */
export const CONFIG_KEYS: Record<string, KeySpec> = {
  hosts: {
    spec: {type: 'list', of: string, nonEmpty: true, unique: true},
    description: 'the virtual hosts served',
    default: ['localhost'],
  },
  data_dir: {spec: string, description: 'SQLite store, certificates and pid file (relative to the configuration file)', default: './data'},
  default_db: {spec: {type: 'enum', values: ['sql']}, description: 'where the server keeps its data (ejabberd\'s name): always sql here, the engine chosen by sql_type; ejabberd\'s mnesia has no equivalent', default: 'sql'},
  sql_type: {spec: {type: 'enum', values: ['sqlite', 'pgsql']}, description: 'the store\'s engine: sqlite (embedded, a file under data_dir) or pgsql (a PostgreSQL server, sql_server and the sql_* keys)', default: 'sqlite'},
  sql_server: {spec: string, description: 'PostgreSQL server: a host name, an address, or the directory of its Unix socket', default: 'localhost'},
  sql_port: {spec: port, description: 'PostgreSQL port', default: 5432},
  sql_database: {spec: string, description: 'PostgreSQL database', default: 'xmppctl'},
  sql_username: {spec: string, description: 'PostgreSQL role', default: 'xmppctl'},
  sql_password: {spec: {type: 'string'}, description: 'password of sql_username (prefer sql_password_file)'},
  sql_password_file: {spec: string, description: 'file (mode 0600) whose first line is the password of sql_username'},
  sql_pool_size: {spec: {type: 'integer', min: 1, max: 200}, description: 'connections to PostgreSQL per process', default: 10},
  sql_ssl: {spec: {type: 'boolean'}, description: 'TLS to PostgreSQL', default: false},
  sql_ssl_verify: {spec: {type: 'boolean'}, description: 'with sql_ssl: check the server\'s certificate and name against sql_ssl_cafile (or the system\'s CAs)', default: false},
  sql_ssl_cafile: {spec: string, description: 'CA certificates (PEM) that sign the PostgreSQL server\'s certificate'},
  sql_connect_timeout: {spec: seconds, description: 'seconds to wait for a PostgreSQL connection', default: 5},
  sql_query_timeout: {spec: seconds, description: 'seconds a PostgreSQL query may run before it is cancelled', default: 60},
  sm_db_type: {spec: {type: 'enum', values: ['internal', 'redis']}, description: 'where the session registry lives (ejabberd\'s name): internal (this process only) or redis (a cluster of nodes sharing the registry, the store and routing; needs sql_type: pgsql and cluster.node)', default: 'internal'},
  redis_server: {spec: string, description: 'with sm_db_type: redis, the Redis server: a host name or an address', default: 'localhost'},
  redis_port: {spec: port, description: 'Redis port', default: 6379},
  redis_password: {spec: {type: 'string'}, description: 'Redis password (AUTH; prefer redis_password_file)'},
  redis_password_file: {spec: string, description: 'file (mode 0600) whose first line is the Redis password'},
  redis_db: {spec: {type: 'integer', min: 0, max: 15}, description: 'Redis database number', default: 0},
  cluster: {
    spec: {
      type: 'object',
      keys: {
        node: {spec: string, description: 'this node\'s name, unique in the cluster and kept across restarts (letters, digits, . _ -); with workers other than 1, worker k is node NAME-k', check: (value) => (/^[A-Za-z0-9._-]{1,64}$/.test(value as string) ? undefined : 'must be 1 to 64 letters, digits, dots, underscores or hyphens')},
        workers: {spec: {type: 'integer', min: 1, max: 1024, words: ['auto']}, description: 'nodes this machine runs, sharing the listening ports: 1 (one process), N (a supervisor and N worker processes), or auto (one per core); other than 1 needs sm_db_type: redis and sql_type: pgsql', default: 1},
      },
    },
    description: 'with sm_db_type: redis, this node of the cluster: {node: NAME, workers: 1 | N | auto}',
  },
  update_sql_schema: {spec: {type: 'boolean'}, description: 'bring the store\'s schema up to date when it is opened (ejabberd\'s name); false: a store with pending migrations is refused until "xmppctl db migrate"', default: true},
  listen: {
    spec: {type: 'list', of: listener},
    description: 'listeners of the bundled server',
    default: [
      {port: 5222, module: 'c2s', starttls: 'required'},
      {port: 5223, module: 'c2s', tls: true},
    ],
  },
  certfiles: {spec: {type: 'list', of: string}, description: 'certificate files or globs', default: []},
  tls: {
    spec: {
      type: 'object',
      keys: {
        min_version: {spec: {type: 'enum', values: TLS_VERSIONS}, description: 'lowest TLS version accepted', default: 'TLSv1.2'},
        ciphers: {spec: string, description: 'OpenSSL cipher string, or "default"', default: 'default'},
        dhparam: {spec: string, description: 'RFC 7919 group name or a PEM file', default: 'ffdhe3072'},
      },
    },
    description: 'TLS policy',
    default: {min_version: 'TLSv1.2', ciphers: 'default', dhparam: 'ffdhe3072'},
  },
  auth_method: {
    spec: {type: 'list', of: {type: 'auth-method'}, nonEmpty: true, unique: true},
    description: 'authentication backends, tried in order',
    default: ['internal'],
    perHost: true,
  },
  auth_password_format: {
    spec: {type: 'enum', values: ['scram', 'plain']},
    description: 'how the internal store keeps passwords',
    default: 'scram',
    perHost: true,
  },
  auth_scram_hash: {
    spec: {type: 'list', of: {type: 'enum', values: SCRAM_HASH_NAMES}, nonEmpty: true, unique: true},
    description: 'SCRAM hashes stored for every account',
    default: ['sha1', 'sha256'],
    perHost: true,
  },
  auth_scram_iterations: {
    spec: {type: 'integer', min: 4096, max: 10_000_000},
    description: 'PBKDF2 iterations for new credentials (RFC 7677 asks for at least 4096)',
    default: 10_000,
    perHost: true,
  },
  auth_use_cache: {spec: {type: 'boolean'}, description: 'cache answers of slow backends', default: true, perHost: true},
  auth_cache_size: {spec: {type: 'integer', min: 1}, description: 'entries in the auth cache', default: 1000, perHost: true},
  auth_cache_life_time: {spec: seconds, description: 'seconds an auth cache entry lives', default: 600, perHost: true},
  auth_cache_missed: {spec: {type: 'boolean'}, description: 'also cache failed lookups', default: true, perHost: true},
  extauth_program: {spec: string, description: 'external authentication program', perHost: true},
  extauth_protocol: {
    spec: {type: 'enum', values: ['generic', 'ejabberd']},
    description: 'generic (line-based) or ejabberd (length-prefixed)',
    default: 'generic',
    perHost: true,
  },
  extauth_pool_size: {spec: {type: 'integer', min: 1, max: 64}, description: 'external auth processes', default: 1, perHost: true},
  extauth_timeout: {spec: seconds, description: 'seconds per external auth request', default: 5, perHost: true},
  saslauthd_socket: {spec: string, description: 'saslauthd unix socket', default: '/var/run/saslauthd/mux', perHost: true},
  cyrus_service_name: {spec: string, description: 'service name sent to saslauthd', default: 'xmpp', perHost: true},
  cyrus_service_realm: {spec: {type: 'string'}, description: 'realm sent to saslauthd (default: the host)', perHost: true},
  cyrus_require_provisioning: {
    spec: {type: 'boolean'},
    description: 'saslauthd users must also exist in the internal store',
    default: false,
    perHost: true,
  },
  pam_service: {spec: string, description: 'PAM service name', default: 'xmpp', perHost: true},
  pam_userinfotype: {
    spec: {type: 'enum', values: ['username', 'jid']},
    description: 'what PAM gets as the user name',
    default: 'username',
    perHost: true,
  },
  ldap_servers: {spec: {type: 'list', of: string, nonEmpty: true}, description: 'LDAP servers, tried in order', default: ['localhost'], perHost: true},
  ldap_port: {spec: {type: 'integer', min: 1, max: 65_535}, description: 'LDAP port (default: 389, or 636 with ldap_encrypt: tls)', perHost: true},
  ldap_encrypt: {
    spec: {type: 'enum', values: ['none', 'starttls', 'tls']},
    description: 'none (passwords cross the network in clear), starttls (RFC 4511 §4.14) or tls (LDAPS)',
    default: 'none',
    perHost: true,
  },
  ldap_tls_verify: {
    spec: {type: 'enum', values: ['hard', 'soft', 'false']},
    description: 'hard: refuse an LDAP server whose certificate does not verify; soft or false: accept it',
    default: 'hard',
    perHost: true,
  },
  ldap_tls_cacertfile: {spec: string, description: 'CA certificates (PEM) that sign the LDAP server\'s certificate (default: the system\'s)', perHost: true},
  ldap_rootdn: {spec: {type: 'string'}, description: 'DN the server binds as to search for users (empty: anonymous)', default: '', perHost: true},
  ldap_password: {spec: {type: 'string'}, description: 'password of ldap_rootdn (prefer ldap_password_file)', perHost: true},
  ldap_password_file: {spec: string, description: 'file (mode 0600) whose first line is the password of ldap_rootdn', perHost: true},
  ldap_base: {spec: string, description: 'DN under which users are searched', perHost: true},
  ldap_uids: {
    spec: {type: 'map', of: string},
    description: 'attributes holding the user name and their patterns (%u: the user, %d: the host), any of which may match',
    default: {uid: '%u'},
    perHost: true,
  },
  ldap_filter: {spec: string, description: 'an RFC 4515 filter users must also match, e.g. (memberOf=cn=xmpp,ou=groups,dc=example,dc=org)', perHost: true},
  ldap_dn_filter: {
    spec: {type: 'map', of: {type: 'list', of: string}},
    description: 'a second search a user\'s entry must pass: {FILTER: [ATTRIBUTES]}, %u, %d, %D (the DN) and %s (the attribute\'s value) in FILTER',
    perHost: true,
  },
  ldap_deref_aliases: {spec: {type: 'enum', values: ['never', 'searching', 'finding', 'always']}, description: 'when the search dereferences aliases', default: 'never', perHost: true},
  ldap_pool_size: {spec: {type: 'integer', min: 1, max: 64}, description: 'connections to the LDAP server, each serving one check at a time', default: 2, perHost: true},
  ldap_timeout: {spec: seconds, description: 'seconds per LDAP operation', default: 5, perHost: true},
  ldap_connect_timeout: {spec: seconds, description: 'seconds to connect to an LDAP server (TLS included)', default: 5, perHost: true},
  gssapi_keytab: {spec: string, description: 'keytab holding the key of gssapi_service_name/HOST@REALM (default /etc/krb5.keytab); readable by the server\'s user only', perHost: true},
  gssapi_service_name: {spec: string, description: 'Kerberos service name of the server principal (RFC 6120 §6.3.9: xmpp)', default: 'xmpp', perHost: true},
  gssapi_realm: {spec: string, description: 'Kerberos realm of the server principal and of the users mapped to local accounts (default: krb5.conf\'s default_realm)', perHost: true},
  gssapi_principal_map: {
    spec: {type: 'map', of: string},
    description: 'Kerberos principals mapped to local usernames, {PRINCIPAL: USERNAME}, beside the rule that maps user@gssapi_realm to user: how instances (bob/admin@REALM) and users of other realms log in',
    default: {},
    perHost: true,
  },
  jwt_key: {spec: string, description: 'file with a PEM key, a JWK or a JWK Set', perHost: true},
  jwt_jid_field: {spec: string, description: 'JWT claim holding the JID', default: 'jid', perHost: true},
  anonymous_protocol: {
    spec: {type: 'enum', values: ['sasl_anon', 'login_anon', 'both']},
    description: 'how anonymous logins are offered',
    default: 'sasl_anon',
    perHost: true,
  },
  disable_sasl_mechanisms: {
    spec: {type: 'list', of: {type: 'enum', values: SASL_MECHANISMS}, unique: true},
    description: 'SASL mechanisms never offered',
    default: [],
    perHost: true,
  },
  c2s_require_encryption: {spec: {type: 'boolean'}, description: 'refuse clients before TLS', default: true, perHost: true},
  modules: {
    spec: {
      type: 'object',
      keys: Object.fromEntries(Object.entries(MODULES).map(([name, module]) => [name, {spec: {type: 'object', keys: module.options}, description: module.description}])),
    },
    description: 'server modules and their options, as in ejabberd; without this key, the full IM set (every module but mod_version)',
    default: DEFAULT_MODULES,
  },
  shaper: {
    spec: {type: 'map', of: {type: 'shaper-rate'}},
    description: 'named traffic shapers, as ejabberd: bytes per second, or {rate, burst_size}',
    default: {normal: {rate: 50_000, burst_size: 500_000}, fast: {rate: 1_000_000, burst_size: 1_000_000}},
  },
  shaper_rules: {
    spec: {
      type: 'object',
      keys: {c2s_shaper: {spec: string, description: 'the shaper of logged-in clients\' traffic, or none', default: 'normal'}},
    },
    description: 'which shaper applies where, as ejabberd (only c2s_shaper so far)',
    default: {c2s_shaper: 'normal'},
  },
  max_stanza_size: {
    spec: {type: 'integer', min: 10_000, max: 16 * 1024 * 1024},
    description: 'bytes of one stanza from an authenticated client; a larger one ends its stream (policy-violation)',
    default: 262_144,
  },
  max_stanza_size_unauthenticated: {
    spec: {type: 'integer', min: 4096, max: 1024 * 1024},
    description: 'bytes of one stanza before authentication (SASL and stream negotiation need a few KB)',
    default: 16_384,
  },
  c2s_auth_timeout: {spec: seconds, description: 'seconds a connection may take to authenticate and bind a resource', default: 60},
  c2s_tls_handshake_timeout: {spec: {type: 'integer', min: 1, max: 300}, description: 'seconds a direct-TLS connection may take to complete its handshake', default: 10},
  c2s_max_connections_per_ip: {
    spec: {type: 'integer', min: 1, max: 1_000_000},
    description: 'open client connections from one IP address; more are refused at once',
    default: 1000,
  },
  c2s_max_unauthenticated_per_ip: {
    spec: {type: 'integer', min: 1, max: 1_000_000},
    description: 'client connections from one IP address that have not yet logged in',
    default: 64,
  },
  max_user_sessions: {
    spec: {type: 'integer', min: 1, max: 10_000},
    description: 'resources one account may bind at once (RFC 6120 §7.6.2.1 resource-constraint beyond)',
    default: 10,
  },
  max_user_offline_messages: {
    spec: {type: 'integer', min: 0, max: 1_000_000},
    description: 'messages kept for an offline account; more bounce with service-unavailable',
    default: 1000,
  },
  max_roster_items: {spec: {type: 'integer', min: 1, max: 1_000_000}, description: 'contacts in one roster, by roster set or by subscription', default: 2000},
  max_roster_bytes: {
    spec: {type: 'integer', min: 10_000, max: 1024 * 1024 * 1024},
    description: 'bytes of one roster (contacts, names and groups)',
    default: 1_048_576,
  },
  disable_sasl_scram_downgrade_protection: {
    spec: {type: 'boolean'},
    description: 'switch off SCRAM downgrade protection (XEP-0474 h= and the RFC 5802 "y" check) for clients that break on it',
    default: false,
    perHost: true,
  },
  allow_tls_unique_on_tls13: {
    spec: {type: 'boolean'},
    description: 'accept (never announce) SCRAM -PLUS binding with tls-unique over TLS 1.3, as ejabberd does, for clients such as slixmpp 1.8.3 (poezio)',
    default: true,
    perHost: true,
  },
  allow_unencrypted_plain_auth: {
    spec: {type: 'boolean'},
    description: 'offer PLAIN on connections without TLS (the password then crosses the network in clear)',
    default: false,
    perHost: true,
  },
  jwt_clock_skew: {
    spec: {type: 'integer', min: 0, max: 3600},
    description: 'seconds of clock difference tolerated for a JWT\'s exp and nbf',
    default: 30,
    perHost: true,
  },
  saslauthd_timeout: {spec: seconds, description: 'seconds to wait for saslauthd\'s answer', default: 10, perHost: true},
  loglevel: {
    spec: {type: 'enum', values: LOG_LEVEL_NAMES},
    description: 'what the server logs: error, warning (or warn), info or debug; "xmppctl start --log-level" overrides it',
    default: 'info',
  },
  log_rotate_size: {
    spec: {type: 'integer', min: 0, words: ['infinity']},
    description: 'bytes server.log may reach before it is rotated (the background server); 0 or infinity: never',
    default: 10 * 1024 * 1024,
  },
  log_rotate_count: {spec: {type: 'integer', min: 0, max: 100}, description: 'rotated logs kept, server.log.1 (newest) to server.log.N', default: 1},
  memory_allocator: {
    spec: {type: 'enum', values: ['auto', 'jemalloc', 'system']},
    description: 'the background server\'s malloc: jemalloc gives memory back after sessions close (auto: jemalloc when libjemalloc2 is installed, else the system\'s)',
    default: 'auto',
  },
  s2s_use_starttls: {
    spec: {type: 'enum', values: ['required', 'optional', 'false']},
    description: 'TLS on server-to-server streams: required (refuse peers without it), optional, or false (never offered)',
    default: 'required',
  },
  s2s_certfile: {spec: string, description: 'PEM file with the certificate and key presented to other servers (default: each host\'s certificate from certfiles)'},
  s2s_cafile: {spec: string, description: 'PEM file of the CAs that peers\' certificates must chain to (default: the system\'s CAs)'},
  s2s_ciphers: {spec: string, description: 'OpenSSL cipher string for s2s streams (default: tls.ciphers)'},
  s2s_protocol_options: {
    spec: {type: 'list', of: {type: 'enum', values: ['no_sslv3', 'no_tlsv1', 'no_tlsv1_1', 'no_tlsv1_2', 'cipher_server_preference', 'no_ticket']}, unique: true},
    description: 'ejabberd\'s TLS options for s2s streams (no_tlsv1_2 raises the lowest version to TLS 1.3)',
    default: [],
  },
  s2s_access: {
    spec: {type: 'list', of: string, unique: true},
    description: 'domains this server federates with; an empty list: every domain',
    default: [],
  },
  s2s_secure_auth: {spec: {type: 'boolean'}, description: 'peers must present a certificate that verifies (SASL EXTERNAL); no dialback (XEP-0220) without one', default: false},
  s2s_max_retry_delay: {spec: seconds, description: 'seconds a peer that could not be reached is not tried again (stanzas to it bounce meanwhile)', default: 300},
  s2s_timeout: {spec: seconds, description: 'seconds an s2s connection may stay idle before it is closed', default: 600},
  s2s_dns_timeout: {spec: {type: 'integer', min: 1, max: 300}, description: 'seconds to wait for the DNS answers that find a peer (SRV, A, AAAA)', default: 10},
  s2s_connect_timeout: {spec: {type: 'integer', min: 1, max: 300}, description: 'seconds to connect to a peer and authenticate the stream', default: 10},
  s2s_max_connections_per_domain: {spec: {type: 'integer', min: 1, max: 10_000}, description: 'incoming s2s connections one peer domain (or one address) may hold open', default: 8},
  s2s_max_queue: {spec: {type: 'integer', min: 1, max: 1_000_000}, description: 'stanzas queued for a peer while its stream is set up; more bounce with resource-constraint', default: 10_000},
  s2s_addresses: {
    spec: {type: 'map', of: s2sAddress},
    description: 'where to reach a peer domain, instead of DNS (private networks, tests): {example.net: {host: 10.0.0.2, port: 5269}}',
    default: {},
  },
  c2s_auth_ban_lifetime: {spec: seconds, description: 'seconds a failed authentication counts against its address and its account', default: 300},
  c2s_max_auth_failures: {
    spec: {type: 'integer', min: 1, max: 1_000_000},
    description: 'failed authentications from one address within c2s_auth_ban_lifetime before it is refused',
    default: 30,
  },
  c2s_auth_ban_exempt: {
    spec: {type: 'list', of: {type: 'network'}, unique: true},
    description: 'networks never refused for their address\'s failures (the per-account limits still apply)',
    default: [],
  },
  c2s_max_auth_failures_per_account_address: {
    spec: {type: 'integer', min: 1, max: 1_000_000},
    description: 'failed authentications to one account from one address within c2s_auth_ban_lifetime before that address is refused for that account',
    default: 10,
  },
  c2s_max_auth_failures_per_account: {
    spec: {type: 'integer', min: 1, max: 1_000_000},
    description: 'failed authentications to one account from all addresses within c2s_auth_ban_lifetime before only its known addresses may try',
    default: 100,
  },
  websocket_origin: {
    spec: {type: 'list', of: string, unique: true},
    description: 'origins (https://web.example.org) whose pages may open a WebSocket (RFC 7395) session; empty: any origin, as ejabberd\'s ignore',
    default: [],
  },
  c2s_auth_known_address_lifetime: {
    spec: {type: 'integer', min: 0, max: 366 * 86_400},
    description: 'seconds an address that logged in to an account stays known to it, and may try past c2s_max_auth_failures_per_account; 0: none is known',
    default: 30 * 86_400,
  },
}

/** The configuration value of a key: what validation guarantees. */
export interface Settings {
  hosts: string[]
  data_dir: string
  update_sql_schema: boolean
  sm_db_type: 'internal' | 'redis'
  redis_server: string
  redis_port: number
  redis_password?: string
  redis_password_file?: string
  redis_db: number
  cluster?: {node?: string; workers?: number | 'auto'}
  default_db: 'sql'
  sql_type: 'sqlite' | 'pgsql'
  sql_server: string
  sql_port: number
  sql_database: string
  sql_username: string
  sql_password?: string
  sql_password_file?: string
  sql_pool_size: number
  sql_ssl: boolean
  sql_ssl_verify: boolean
  sql_ssl_cafile?: string
  sql_connect_timeout: number
  sql_query_timeout: number
  listen: Array<{port: number; ip: string; module: 'c2s' | 's2s' | 'http'; starttls: 'required' | 'optional' | 'disabled'; tls: boolean; request_handlers?: Record<string, HttpHandlerName>}>
  websocket_origin: string[]
  certfiles: string[]
  tls: {min_version: (typeof TLS_VERSIONS)[number]; ciphers: string; dhparam: string}
  auth_method: AuthMethodName[]
  auth_password_format: 'scram' | 'plain'
  auth_scram_hash: Array<(typeof SCRAM_HASH_NAMES)[number]>
  auth_scram_iterations: number
  auth_use_cache: boolean
  auth_cache_size: number
  auth_cache_life_time: number
  auth_cache_missed: boolean
  extauth_program?: string
  extauth_protocol: 'generic' | 'ejabberd'
  extauth_pool_size: number
  extauth_timeout: number
  saslauthd_socket: string
  cyrus_service_name: string
  cyrus_service_realm?: string
  cyrus_require_provisioning: boolean
  pam_service: string
  pam_userinfotype: 'username' | 'jid'
  ldap_servers: string[]
  ldap_port?: number
  ldap_encrypt: 'none' | 'starttls' | 'tls'
  ldap_tls_verify: 'hard' | 'soft' | 'false'
  ldap_tls_cacertfile?: string
  ldap_rootdn: string
  ldap_password?: string
  ldap_password_file?: string
  ldap_base?: string
  ldap_uids: Record<string, string>
  ldap_filter?: string
  ldap_dn_filter?: Record<string, string[]>
  ldap_deref_aliases: 'never' | 'searching' | 'finding' | 'always'
  ldap_pool_size: number
  ldap_timeout: number
  ldap_connect_timeout: number
  gssapi_keytab?: string
  gssapi_service_name: string
  gssapi_realm?: string
  gssapi_principal_map: Record<string, string>
  jwt_key?: string
  jwt_jid_field: string
  anonymous_protocol: 'sasl_anon' | 'login_anon' | 'both'
  disable_sasl_mechanisms: Array<(typeof SASL_MECHANISMS)[number]>
  c2s_require_encryption: boolean
  modules: Partial<Record<ModuleName, Record<string, unknown>>>
  shaper: Record<string, {rate: number; burst_size: number}>
  shaper_rules: {c2s_shaper: string}
  max_stanza_size: number
  max_stanza_size_unauthenticated: number
  c2s_auth_timeout: number
  c2s_tls_handshake_timeout: number
  c2s_max_connections_per_ip: number
  c2s_max_unauthenticated_per_ip: number
  max_user_sessions: number
  max_user_offline_messages: number
  max_roster_items: number
  max_roster_bytes: number
  disable_sasl_scram_downgrade_protection: boolean
  allow_tls_unique_on_tls13: boolean
  allow_unencrypted_plain_auth: boolean
  jwt_clock_skew: number
  saslauthd_timeout: number
  loglevel: LogLevelName
  log_rotate_size: number | 'infinity'
  log_rotate_count: number
  memory_allocator: 'auto' | 'jemalloc' | 'system'
  s2s_use_starttls: 'required' | 'optional' | 'false'
  s2s_certfile?: string
  s2s_cafile?: string
  s2s_ciphers?: string
  s2s_protocol_options: string[]
  s2s_access: string[]
  s2s_secure_auth: boolean
  s2s_max_retry_delay: number
  s2s_timeout: number
  s2s_dns_timeout: number
  s2s_connect_timeout: number
  s2s_max_connections_per_domain: number
  s2s_max_queue: number
  s2s_addresses: Record<string, {host: string; port: number; tls: boolean}>
  c2s_auth_ban_lifetime: number
  c2s_max_auth_failures: number
  c2s_auth_ban_exempt: string[]
  c2s_max_auth_failures_per_account_address: number
  c2s_max_auth_failures_per_account: number
  c2s_auth_known_address_lifetime: number
}

/** The keys that `host_config` may override, resolved for one host. */
export type HostSettings = Omit<Settings, 'hosts' | 'data_dir' | 'listen' | 'certfiles' | 'tls' | (typeof SERVER_WIDE_KEYS)[number]> & {host: string}

/** Where the store is and how to reach it (read when the store opens: a running server changes them only by a restart). */
export const STORE_KEYS = [
  'default_db',
  'sql_type',
  'sql_server',
  'sql_port',
  'sql_database',
  'sql_username',
  'sql_password',
  'sql_password_file',
  'sql_pool_size',
  'sql_ssl',
  'sql_ssl_verify',
  'sql_ssl_cafile',
  'sql_connect_timeout',
  'sql_query_timeout',
] as const

/** The cluster's session registry and this node's name (read at start, as the store's keys). */
export const CLUSTER_KEYS = ['sm_db_type', 'redis_server', 'redis_port', 'redis_password', 'redis_password_file', 'redis_db', 'cluster'] as const

/** Keys of the server process as a whole, not of a host: its log, its limits per connection, address and account. */
export const SERVER_WIDE_KEYS = [
  'update_sql_schema',
  ...CLUSTER_KEYS,
  ...STORE_KEYS,
  'loglevel',
  'log_rotate_size',
  'log_rotate_count',
  'memory_allocator',
  's2s_use_starttls',
  's2s_certfile',
  's2s_cafile',
  's2s_ciphers',
  's2s_protocol_options',
  's2s_access',
  's2s_secure_auth',
  's2s_max_retry_delay',
  's2s_timeout',
  's2s_dns_timeout',
  's2s_connect_timeout',
  's2s_max_connections_per_domain',
  's2s_max_queue',
  's2s_addresses',
  'c2s_auth_ban_lifetime',
  'c2s_max_auth_failures',
  'c2s_auth_ban_exempt',
  'c2s_max_auth_failures_per_account_address',
  'c2s_max_auth_failures_per_account',
  'c2s_auth_known_address_lifetime',
  'websocket_origin',
  'modules',
  'shaper',
  'shaper_rules',
  'max_stanza_size',
  'max_stanza_size_unauthenticated',
  'c2s_auth_timeout',
  'c2s_tls_handshake_timeout',
  'c2s_max_connections_per_ip',
  'c2s_max_unauthenticated_per_ip',
  'max_user_sessions',
  'max_user_offline_messages',
  'max_roster_items',
  'max_roster_bytes',
] as const

export const PER_HOST_KEYS = Object.keys(CONFIG_KEYS).filter((key) => CONFIG_KEYS[key].perHost)

/** A fresh copy of every default, so callers may not mutate shared state. */
export function defaultSettings(): Settings {
  const settings: Record<string, unknown> = {}
  for (const [key, {default: value}] of Object.entries(CONFIG_KEYS)) {
    if (value !== undefined) settings[key] = structuredClone(value)
  }

  return settings as unknown as Settings
}
