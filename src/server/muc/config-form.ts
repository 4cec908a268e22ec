/**
 * The room configuration form (XEP-0045 §10.2, muc#roomconfig, XEP-0004)
 * and the room information form of disco#info (§15.5.4, muc#roominfo).
 */
import type {RoomConfig} from '../../store/room-store.js'
import {NS} from '../../xml/namespaces.js'
import {type Element, x} from '../../xml/element.js'

const ROOMCONFIG = 'http://jabber.org/protocol/muc#roomconfig'
const ROOMINFO = 'http://jabber.org/protocol/muc#roominfo'

type FieldType = 'boolean' | 'text-single' | 'text-private' | 'list-single'

interface FieldSpec {
  type: FieldType
  label: string
  get(config: RoomConfig): string
  /** The configuration with the submitted value, or why the value is refused. */
  set(config: RoomConfig, value: string): RoomConfig | string
  options?: ReadonlyArray<[value: string, label: string]>
}

const bool = (value: string): boolean | undefined => (value === '1' || value === 'true' ? true : value === '0' || value === 'false' ? false : undefined)

function booleanField(label: string, key: 'persistent' | 'public' | 'membersOnly' | 'moderated' | 'changeSubject' | 'allowPrivateMessages' | 'allowInvites'): FieldSpec {
  return {
    type: 'boolean',
    label,
    get: (config) => (config[key] ? '1' : '0'),
    set: (config, value) => {
      const parsed = bool(value)
      return parsed === undefined ? `${label}: "${value}" is not a boolean` : {...config, [key]: parsed}
    },
  }
}

/** The fields clients set, by their muc#roomconfig variable names (§16.4). */
const FIELDS: Record<string, FieldSpec> = {
  // Prosody's name for it; XEP-0045 names none.
  'muc#roomconfig_enablearchiving': {
    type: 'boolean',
    label: 'Archive messages (persistent rooms)',
    get: (config) => (config.archive ? '1' : '0'),
    set: (config, value) => {
      const parsed = bool(value)
      return parsed === undefined ? `Archive messages: "${value}" is not a boolean` : {...config, archive: parsed}
    },
  },
  'muc#roomconfig_roomname': {type: 'text-single', label: 'Name', get: (config) => config.name, set: (config, value) => ({...config, name: value})},
  'muc#roomconfig_roomdesc': {type: 'text-single', label: 'Description', get: (config) => config.description, set: (config, value) => ({...config, description: value})},
  'muc#roomconfig_persistentroom': booleanField('Persistent: the room stays when its last occupant leaves', 'persistent'),
  'muc#roomconfig_publicroom': booleanField('Listed in the directory of rooms', 'public'),
  'muc#roomconfig_membersonly': booleanField('Members only', 'membersOnly'),
  'muc#roomconfig_moderatedroom': booleanField('Moderated: only participants with voice may speak', 'moderated'),
  'muc#roomconfig_changesubject': booleanField('Participants may change the subject', 'changeSubject'),
  'muc#roomconfig_allowinvites': booleanField('Participants may invite others', 'allowInvites'),
  'muc#roomconfig_allowpm': {
    type: 'list-single',
    label: 'Who may send private messages',
    options: [
      ['anyone', 'Anyone'],
      ['none', 'Nobody'],
    ],
    get: (config) => (config.allowPrivateMessages ? 'anyone' : 'none'),
    set: (config, value) => (value === 'anyone' || value === 'participants' || value === 'moderators' ? {...config, allowPrivateMessages: true} : value === 'none' ? {...config, allowPrivateMessages: false} : `"${value}" is not anyone or none`),
  },
  'muc#roomconfig_passwordprotectedroom': {
    type: 'boolean',
    label: 'Password protected',
    get: (config) => (config.password ? '1' : '0'),
    // Takes effect with muc#roomconfig_roomsecret; off clears the password.
    set: (config, value) => {
      const parsed = bool(value)
      if (parsed === undefined) return `Password protected: "${value}" is not a boolean`
      return parsed ? config : {...config, password: ''}
    },
  },
  'muc#roomconfig_roomsecret': {type: 'text-private', label: 'Password', get: (config) => config.password, set: (config, value) => ({...config, password: value})},
  'muc#roomconfig_whois': {
    type: 'list-single',
    label: 'Who may see occupants\' real addresses',
    options: [
      ['moderators', 'Moderators only'],
      ['anyone', 'Anyone'],
    ],
    get: (config) => config.whois,
    set: (config, value) => (value === 'moderators' || value === 'anyone' ? {...config, whois: value} : `"${value}" is not moderators or anyone`),
  },
  'muc#roomconfig_maxusers': {
    type: 'text-single',
    label: 'Maximum occupants',
    get: (config) => String(config.maxUsers),
    set: (config, value) => (/^\d+$/.test(value) && Number(value) > 0 ? {...config, maxUsers: Number(value)} : `maximum occupants: "${value}" is not a positive number`),
  },
  'muc#roomconfig_historylength': {
    type: 'text-single',
    label: 'Messages of history sent to a new occupant',
    get: (config) => String(config.historySize),
    set: (config, value) => (/^\d+$/.test(value) ? {...config, historySize: Number(value)} : `history length: "${value}" is not a number`),
  },
}

/** The form an owner fills in (§10.2), with the room's current values. */
export function configForm(config: RoomConfig, roomJid: string): Element {
  const form = x('x', NS.dataForms, {type: 'form'}, x('title', NS.dataForms, {}, `Configuration of ${roomJid}`), field('FORM_TYPE', 'hidden', ROOMCONFIG))
  for (const [name, spec] of Object.entries(FIELDS)) {
    const element = field(name, spec.type, spec.get(config), spec.label)
    for (const [value, label] of spec.options ?? []) element.append(x('option', NS.dataForms, {label}, x('value', NS.dataForms, {}, value)))
    form.append(element)
  }

  return form
}

/** The configuration a submitted form makes (unknown fields are ignored, §10.2), or why a value is refused. */
export function applyConfigForm(config: RoomConfig, form: Element): RoomConfig | string {
  let result = {...config}
  for (const submitted of form.getChildren('field', NS.dataForms)) {
    const name = submitted.attrs.var
    const spec = name === undefined ? undefined : FIELDS[name]
    if (!spec) continue
    const value = submitted.getChildText('value', NS.dataForms) ?? ''
    const next = spec.set(result, value)
    if (typeof next === 'string') return next
    result = next
  }

  return result
}

/** §15.5.4 muc#roominfo, in the room's disco#info. */
export function roomInfoForm(config: RoomConfig, subject: string, occupants: number): Element {
  return x(
    'x',
    NS.dataForms,
    {type: 'result'},
    field('FORM_TYPE', 'hidden', ROOMINFO),
    field('muc#roominfo_description', 'text-single', config.description, 'Description'),
    field('muc#roominfo_subject', 'text-single', subject, 'Subject'),
    field('muc#roominfo_occupants', 'text-single', String(occupants), 'Number of occupants'),
    field('muc#roomconfig_roomname', 'text-single', config.name, 'Name'),
  )
}

function field(name: string, type: string, value: string, label?: string): Element {
  return x('field', NS.dataForms, {var: name, type, label}, x('value', NS.dataForms, {}, value))
}
