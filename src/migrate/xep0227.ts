/**
 * XEP-0227 (Portable Import/Export Format, `urn:xmpp:pie:0`) as ejabberd's
 * `export_piefxis` and Prosody's mod_storage_xep0227 write it: read as a
 * stream, one account at a time, and written the same way.
 */
import {readdirSync, realpathSync, statSync} from 'node:fs'
import path from 'node:path'
import type {SaxesAttributeNS, SaxesTagNS} from 'saxes'

import {type ScramCredentials, type ScramHash, parseScramMechanismName, scramDigestBytes, scramMechanismName} from '../sasl/scram.js'
import type {SourceAccount, SourceRecord} from './types.js'
import {type SourceUserData, addUserChild, emptyUserData} from './user-data.js'
import {Element} from '../xml/element.js'
import {escapeXml, parseXmlFile} from './xml.js'

export const PIE_NS = 'urn:xmpp:pie:0'
export const PIE_SCRAM_NS = 'urn:xmpp:pie:0#scram'
const XINCLUDE_NS = 'http://www.w3.org/2001/XInclude'

/** Files a chain of xi:include may nest: ejabberd's main file includes its host files, one level. */
export const MAX_INCLUDE_DEPTH = 4

/** Per-user data beyond this is refused rather than buffered. */
const MAX_EXTRA_BYTES = 16 * 1024 * 1024

const SCRAM_FIELDS = ['iter-count', 'salt', 'server-key', 'stored-key'] as const
type ScramField = (typeof SCRAM_FIELDS)[number]

/** The XML files of a XEP-0227 source: the file itself, or every *.xml file of a directory. */
export function xep0227Files(source: string): string[] {
  if (!statSync(source).isDirectory()) return [source]
  return readdirSync(source)
    .filter((name) => name.endsWith('.xml'))
    .sort()
    .map((name) => path.join(source, name))
}

/**
 * ejabberd writes SCRAM credentials into the `password` attribute:
 * `scram:SCRAM-SHA-256:StoredKey:ServerKey:Salt:IterationCount` (since 21.x),
 * or `scram:StoredKey,ServerKey,Salt,IterationCount` (SHA-1, older), base64.
 * Only a value that parses completely is taken as SCRAM.
 */
export function parseEjabberdScramPassword(value: string): ScramCredentials | undefined {
  let match = /^scram:(SCRAM-SHA-(?:1|256|512)):([A-Za-z0-9+/=]+):([A-Za-z0-9+/=]+):([A-Za-z0-9+/=]+):(\d+)$/.exec(value)
  let hash: ScramHash | undefined
  if (match) hash = parseScramMechanismName(match[1])?.hash
  else {
    match = /^scram:()([A-Za-z0-9+/=]+),([A-Za-z0-9+/=]+),([A-Za-z0-9+/=]+),(\d+)$/.exec(value)
    if (match) hash = 'sha1'
  }

  if (!match || !hash) return undefined
  const credentials = {
    hash,
    storedKey: Buffer.from(match[2], 'base64'),
    serverKey: Buffer.from(match[3], 'base64'),
    salt: Buffer.from(match[4], 'base64'),
    iterations: Number(match[5]),
  }
  return credentialsProblem(credentials) === undefined ? credentials : undefined
}

/** Why credentials cannot be right, or undefined. */
export function credentialsProblem(credentials: ScramCredentials): string | undefined {
  const bytes = scramDigestBytes(credentials.hash)
  if (!Number.isSafeInteger(credentials.iterations) || credentials.iterations < 1) return `iteration count ${credentials.iterations} is not a positive integer`
  if (credentials.salt.length === 0) return 'the salt is empty'
  if (credentials.storedKey.length !== bytes) return `the stored key has ${credentials.storedKey.length} bytes, ${scramMechanismName(credentials.hash)} needs ${bytes}`
  if (credentials.serverKey.length !== bytes) return `the server key has ${credentials.serverKey.length} bytes, ${scramMechanismName(credentials.hash)} needs ${bytes}`
  return undefined
}

function decodeBase64(text: string): Buffer | undefined {
  const compact = text.replace(/\s+/g, '')
  return /^[A-Za-z0-9+/]*={0,2}$/.test(compact) && compact.length % 4 === 0 ? Buffer.from(compact, 'base64') : undefined
}

interface UserState {
  line: number
  depth: number
  host: string
  name: string | undefined
  password: string | undefined
  credentials: ScramCredentials[]
  problem: string | undefined
  /** Each top-level child of <user> other than its credentials, built as it is read (no second parse). */
  children: Element[]
  /** The open elements below <user>, innermost last. */
  open: Element[]
  extraBytes: number
}

interface ScramState {
  mechanism: string | undefined
  fields: Partial<Record<ScramField, string>>
  field: ScramField | undefined
}

function attribute(tag: SaxesTagNS, name: string): string | undefined {
  // An unprefixed attribute is keyed by its name and is in no namespace.
  const found = (tag.attributes as Record<string, SaxesAttributeNS>)[name]
  return found?.uri === '' ? found.value : undefined
}

/** A file named by `<xi:include href>`, to be read in its place. */
interface Include {
  kind: 'include'
  href: string
  line: number
}

/**
 * The file an `<xi:include href='…'/>` of `from` names, or why it is refused.
 * ejabberd's `export_piefxis DIR` writes the base name of each host file
 * (ejabberd_piefxis:make_xinclude/1), so only a path inside the including
 * file's directory is followed: no URI scheme, no absolute path, no `..`
 * out of it (symbolic links included), and no file already being read.
 */
export function resolveInclude(from: string, href: string, chain: readonly string[]): {shown: string; real: string} {
  if (href === '') throw new Error('an <xi:include> has no href')
  if (/^[A-Za-z][A-Za-z0-9+.-]*:/.test(href)) throw new Error(`<xi:include href="${href}"> names a URI; only a file next to the including one is read`)
  if (path.isAbsolute(href)) throw new Error(`<xi:include href="${href}"> is an absolute path; only a file next to the including one is read`)
  const shown = path.join(path.dirname(from), href)
  let real: string
  try {
    real = realpathSync(shown)
  } catch {
    throw new Error(`<xi:include href="${href}"> names a file that cannot be read`)
  }

  const relative = path.relative(realpathSync(path.dirname(from)), real)
  if (relative === '' || relative.startsWith('..') || path.isAbsolute(relative)) throw new Error(`<xi:include href="${href}"> leaves the directory of ${path.basename(from)}`)
  if (chain.includes(real)) throw new Error(`<xi:include href="${href}"> includes a file that includes it (a loop)`)
  if (chain.length > MAX_INCLUDE_DEPTH) throw new Error(`<xi:include> nests deeper than ${MAX_INCLUDE_DEPTH} files`)
  return {shown, real}
}

/**
 * Every account in a XEP-0227 file or directory, in document order,
 * following xi:include. A file read once (included, or listed in a
 * directory beside the file including it) is not read again.
 */
export async function* readXep0227(source: string): AsyncGenerator<SourceRecord> {
  const read = new Set<string>()
  for (const file of xep0227Files(source)) {
    const real = realpathSync(file)
    if (!read.has(real)) yield* readFile(file, [real], read)
  }
}

async function* readFile(file: string, chain: string[], read: Set<string>): AsyncGenerator<SourceRecord> {
  read.add(chain.at(-1)!)
  for await (const item of readOneFile(file)) {
    if (item.kind !== 'include') {
      yield item
      continue
    }

    let target: {shown: string; real: string}
    try {
      target = resolveInclude(file, item.href, chain)
    } catch (error) {
      throw new Error(`${file}:${item.line}: ${(error as Error).message}`, {cause: error})
    }

    if (!read.has(target.real)) yield* readFile(target.shown, [...chain, target.real], read)
  }
}

async function* readOneFile(file: string): AsyncGenerator<SourceRecord | Include> {
  const out: Array<SourceRecord | Include> = []
  let host: {jid: string; depth: number} | undefined
  let user: UserState | undefined
  let scram: ScramState | undefined
  let sawRoot = false

  const finishUser = (state: UserState) => {
    const where = `${file}:${state.line}`
    if (state.name === undefined) out.push({kind: 'invalid', where, reason: 'the <user> element has no name attribute'})
    else if (state.problem !== undefined) out.push({kind: 'invalid', where, reason: state.problem, jid: `${state.name}@${state.host}`})
    else {
      let data: SourceUserData | undefined
      if (state.extraBytes > MAX_EXTRA_BYTES) {
        out.push({kind: 'invalid', where, reason: `the user's other data is larger than ${MAX_EXTRA_BYTES / 1024 / 1024} MiB`, jid: `${state.name}@${state.host}`})
        return
      }

      for (const child of state.children) addUserChild((data ??= emptyUserData()), child)
      const extra = data && data.other.length > 0 ? data.other.join('') : undefined
      const account: SourceAccount = {kind: 'account', where, host: state.host, username: state.name, password: state.password, credentials: state.credentials, extra}
      if (data) account.data = data
      out.push(account)
    }
  }

  const finishScram = (state: UserState, element: ScramState) => {
    const parsed = element.mechanism === undefined ? undefined : parseScramMechanismName(element.mechanism)
    if (!parsed || parsed.plus) {
      state.problem ??= `unsupported SCRAM mechanism ${JSON.stringify(element.mechanism ?? '')}`
      return
    }

    const missing = SCRAM_FIELDS.filter((field) => element.fields[field] === undefined)
    if (missing.length > 0) {
      state.problem ??= `${element.mechanism} credentials lack <${missing.join('>, <')}>`
      return
    }

    let [salt, serverKey, storedKey] = [element.fields.salt!, element.fields['server-key']!, element.fields['stored-key']!].map(decodeBase64)
    // ejabberd (23.01 at least) base64-encodes its already base64 keys once more:
    // recognised by keys of the wrong length that decode again to the right one.
    const bytes = scramDigestBytes(parsed.hash)
    if (salt && serverKey && storedKey && storedKey.length !== bytes) {
      const twice = [salt, serverKey, storedKey].map((value) => decodeBase64(value.toString('latin1')))
      if (twice.every(Boolean) && twice[1]!.length === bytes && twice[2]!.length === bytes) [salt, serverKey, storedKey] = twice
    }

    const iterations = /^\s*\d+\s*$/.test(element.fields['iter-count']!) ? Number(element.fields['iter-count']) : Number.NaN
    if (!salt || !serverKey || !storedKey) {
      state.problem ??= `${element.mechanism} credentials are not valid base64`
      return
    }

    const credentials = {hash: parsed.hash, salt, serverKey, storedKey, iterations}
    const problem = credentialsProblem(credentials)
    if (problem) state.problem ??= `${element.mechanism}: ${problem}`
    else if (state.credentials.some((existing) => existing.hash === parsed.hash)) state.problem ??= `${element.mechanism} credentials appear twice`
    else state.credentials.push(credentials)
  }

  /** Counts what a user's data costs, and stops keeping it past MAX_EXTRA_BYTES. */
  const counted = (state: UserState, bytes: number): boolean => {
    state.extraBytes += bytes
    if (state.extraBytes <= MAX_EXTRA_BYTES) return true
    state.children = []
    state.open = []
    return false
  }

  yield* parseXmlFile<SourceRecord | Include>(
    file,
    {
      open(tag, line, depth) {
        if (!sawRoot) {
          sawRoot = true
          // ejabberd's per-host files (export_piefxis DIR) have <host> as their root.
          if (tag.uri !== PIE_NS || (tag.local !== 'server-data' && tag.local !== 'host')) {
            throw new Error(`the root element is <${tag.name}>, not XEP-0227's <server-data xmlns='${PIE_NS}'>`)
          }

          if (tag.local === 'server-data') return
        }

        if (user) {
          if (scram) {
            if (depth === user.depth + 2 && (SCRAM_FIELDS as readonly string[]).includes(tag.local)) {
              scram.field = tag.local as ScramField
              scram.fields[scram.field] = ''
            }

            return
          }

          if (depth === user.depth + 1 && tag.uri === PIE_SCRAM_NS && tag.local === 'scram-credentials') {
            scram = {mechanism: attribute(tag, 'mechanism'), fields: {}, field: undefined}
            return
          }

          const attrs: Record<string, string> = {}
          let bytes = tag.name.length + 2
          for (const attribute of Object.values(tag.attributes as Record<string, SaxesAttributeNS>)) {
            bytes += attribute.name.length + attribute.value.length + 4
            // The element's own namespace is its ns; prefix declarations stay, for prefixed attributes of its content.
            if (attribute.name !== 'xmlns') attrs[attribute.name] = attribute.value
          }

          const element = new Element(tag.local, tag.uri, attrs)
          if (!counted(user, bytes)) return
          if (depth === user.depth + 1) user.children.push(element)
          else user.open.at(-1)?.children.push(element)
          user.open.push(element)
          return
        }

        if (tag.uri === XINCLUDE_NS) {
          // XInclude 1.0 §3.1: only parse="xml" (the default) includes elements; a fallback would hide a missing file.
          if (tag.local !== 'include') throw new Error(`line ${line}: <${tag.name}> is not supported, only <xi:include href='…'/>`)
          const parse = attribute(tag, 'parse')
          if ((parse !== undefined && parse !== 'xml') || attribute(tag, 'xpointer') !== undefined) {
            throw new Error(`line ${line}: only whole-file <xi:include href='…'/> is supported, not parse or xpointer`)
          }

          out.push({kind: 'include', href: attribute(tag, 'href') ?? '', line})
          return
        }

        if (tag.uri === PIE_NS && tag.local === 'host') {
          host = {jid: attribute(tag, 'jid') ?? '', depth}
          return
        }

        if (tag.uri === PIE_NS && tag.local === 'user') {
          const name = attribute(tag, 'name')
          const password = attribute(tag, 'password')
          user = {line, depth, host: host?.jid ?? '', name, password, credentials: [], problem: undefined, children: [], open: [], extraBytes: 0}
          if (!host) user.problem = 'the <user> element is not inside a <host>'
          if (password !== undefined) {
            const ejabberd = parseEjabberdScramPassword(password)
            if (ejabberd) {
              user.credentials.push(ejabberd)
              user.password = undefined
            } else if (password.startsWith('scram:') && /^scram:(SCRAM-|[A-Za-z0-9+/=]+,)/.test(password)) {
              user.problem = 'the password attribute holds ejabberd SCRAM credentials that do not parse'
            }
          }
        }
      },
      close(tag, depth) {
        if (!user) {
          if (host && depth === host.depth) host = undefined
          return
        }

        if (depth === user.depth) {
          finishUser(user)
          user = undefined
          return
        }

        if (scram) {
          if (depth === user.depth + 1) {
            finishScram(user, scram)
            scram = undefined
          } else if (depth === user.depth + 2) scram.field = undefined
          return
        }

        user.open.pop()
        counted(user, tag.name.length + 3)
      },
      text(text, depth) {
        // Text directly inside <user> is only indentation between its children.
        if (!user || depth === user.depth) return
        if (scram) {
          if (scram.field) scram.fields[scram.field] += text
          return
        }

        const parent = user.open.at(-1)
        if (parent && counted(user, text.length)) parent.children.push(text)
      },
    },
    () => out.splice(0),
  )
}

/** One account as a XEP-0227 `<user>` element. */
export function formatUser(
  username: string,
  secrets: {plaintext: string | undefined; credentials: readonly ScramCredentials[]},
  options: {ejabberd?: boolean} = {},
  /** Children to write after the credentials, serialised (export-data.ts). */
  data = '',
): string {
  let stored = secrets.credentials
  // ejabberd keeps one SCRAM hash per account, and reads every key base64-encoded twice.
  const encode = options.ejabberd ? (bytes: Buffer) => Buffer.from(bytes.toString('base64'), 'latin1').toString('base64') : (bytes: Buffer) => bytes.toString('base64')
  if (options.ejabberd && stored.length > 1) stored = [stored.find((credential) => credential.hash === 'sha1') ?? stored[0]]
  const password = secrets.plaintext === undefined ? '' : ` password="${escapeXml(secrets.plaintext)}"`
  if (stored.length === 0 && data === '') return `<user name="${escapeXml(username)}"${password}/>\n`
  const credentials = stored.map(
    (credential) =>
      `<scram-credentials xmlns="${PIE_SCRAM_NS}" mechanism="${scramMechanismName(credential.hash)}">` +
      `<iter-count>${credential.iterations}</iter-count><salt>${encode(credential.salt)}</salt>` +
      `<server-key>${encode(credential.serverKey)}</server-key><stored-key>${encode(credential.storedKey)}</stored-key>` +
      '</scram-credentials>',
  )
  return `<user name="${escapeXml(username)}"${password}>\n${credentials.map((line) => `  ${line}\n`).join('')}${data}</user>\n`
}

export const XEP0227_HEAD = `<?xml version="1.0" encoding="UTF-8"?>\n<server-data xmlns="${PIE_NS}">\n`
export const XEP0227_TAIL = '</server-data>\n'
export const hostOpen = (host: string) => `<host jid="${escapeXml(host)}">\n`
export const HOST_CLOSE = '</host>\n'
