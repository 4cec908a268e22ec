/**
 * `cert import`: takes certificates and keys from certbot lineages
 * (`live/NAME/fullchain.pem` + `privkey.pem`, symlinks into `archive/`) or
 * from any directory of PEM files, matches them to the configured hosts by
 * name (RFC 6125) and installs them as `certs/HOST.crt` + `certs/HOST.key`.
 */
import {X509Certificate} from 'node:crypto'
import {existsSync, readFileSync, readdirSync, statSync} from 'node:fs'
import path from 'node:path'

import type {Configuration} from '../config/index.js'
import {XmppctlError, osErrorText} from '../errors.js'
import {writeFileSecure} from '../secure-write.js'
import {CERT_MODE, KEY_MODE, ensureCertsDir, hostFiles} from './files.js'
import {type ChainCertificate, type KeyState, keyFromBlock, parseCertificateDer} from './inspect.js'
import {describeNames, dnsNameMatches, matchHost} from './names.js'
import {type PemBlock, encodePem, isPrivateKeyLabel, parsePem, readCertificateBlocks} from './pem.js'

const PEM_FILE = /\.(pem|crt|cer|cert|key)$/i

interface Candidate {
  /** The file the chain came from. */
  source: string
  chain: ChainCertificate[]
  chainPem: string
  sourceMode: number
  key: Extract<KeyState, {state: 'found'}> & {pem: string}
}

export interface ImportOptions {
  force: boolean
  env?: NodeJS.ProcessEnv
  now?: Date
}

export interface ImportedHost {
  host: string
  source: string
  keySource: string
  certFile: string
  keyFile: string
  names: string[]
  notAfter: string
  /** `installed`; `unchanged` when the same files were there; `kept` when the installed certificate lasts longer. */
  status: 'installed' | 'unchanged' | 'kept'
}

export interface ImportResult {
  /** Run by certbot as a deploy hook (RENEWED_LINEAGE set). */
  deployHook: boolean
  /** Directories read. */
  sources: string[]
  imported: ImportedHost[]
  /** Configured hosts no usable certificate was found for, and why. */
  missing: Array<{host: string; reason: string}>
  /** Files that were skipped, and why. */
  skipped: Array<{file: string; reason: string}>
  /** Something was installed: the server must reload its certificates. */
  reloadNeeded: boolean
}

function readText(file: string): {text: string; mode: number} {
  // statSync and readFileSync follow symlinks: certbot's live/ links point into archive/.
  return {mode: statSync(file).mode & 0o777, text: readFileSync(file, 'utf8')}
}

/** The PEM files to read under `dir`: a certbot tree, a certbot lineage, or a plain directory. */
function collectFiles(input: string): string[] {
  let stat
  try {
    stat = statSync(input)
  } catch (error) {
    throw new XmppctlError('file-missing', `cannot read ${input}: ${osErrorText(error)}`, {hint: 'give a certbot directory (/etc/letsencrypt) or a directory of PEM files'})
  }

  if (stat.isFile()) {
    // A file named on the command line must hold a certificate: say so now rather than "no certificate" later.
    readCertificateBlocks(input)
    return [input]
  }

  const live = path.join(input, 'live')
  // /etc/letsencrypt: only live/ (archive/ holds every old version too).
  if (existsSync(live) && statSync(live).isDirectory()) return collectFiles(live)
  const files: string[] = []
  for (const entry of readdirSync(input, {withFileTypes: true}).sort((a, b) => a.name.localeCompare(b.name))) {
    const full = path.join(input, entry.name)
    let isDirectory = entry.isDirectory()
    let isFile = entry.isFile()
    if (entry.isSymbolicLink()) {
      try {
        const target = statSync(full)
        isDirectory = target.isDirectory()
        isFile = target.isFile()
      } catch {
        continue // a dangling link
      }
    }

    if (isFile && PEM_FILE.test(entry.name)) files.push(full)
    // /etc/letsencrypt/live: one level of lineage directories.
    else if (isDirectory && existsSync(path.join(full, 'fullchain.pem'))) {
      for (const name of ['fullchain.pem', 'privkey.pem']) if (existsSync(path.join(full, name))) files.push(path.join(full, name))
    }
  }

  return files
}

interface Parsed {
  chains: Array<{source: string; mode: number; blocks: PemBlock[]}>
  keys: Array<{source: string; block: PemBlock}>
  skipped: Array<{file: string; reason: string}>
}

function parseFiles(files: readonly string[]): Parsed {
  const parsed: Parsed = {chains: [], keys: [], skipped: []}
  for (const file of files) {
    let text: string
    let mode: number
    try {
      ;({text, mode} = readText(file))
    } catch (error) {
      parsed.skipped.push({file, reason: `cannot read it: ${osErrorText(error)}`})
      continue
    }

    const blocks = parsePem(text)
    if (blocks.length === 0) {
      parsed.skipped.push({file, reason: 'no PEM data'})
      continue
    }

    const certificates = blocks.filter((block) => block.label === 'CERTIFICATE')
    if (certificates.length > 0) parsed.chains.push({source: file, mode, blocks: certificates})
    for (const block of blocks) if (isPrivateKeyLabel(block.label)) parsed.keys.push({source: file, block})
  }

  return parsed
}

function toCandidates(parsed: Parsed): {candidates: Candidate[]; skipped: Array<{file: string; reason: string}>} {
  const skipped = [...parsed.skipped]
  const keys = parsed.keys.map(({source, block}) => ({state: keyFromBlock(source, block), pem: encodePem(block.label, block.der)}))
  const candidates: Candidate[] = []
  for (const {source, mode, blocks} of parsed.chains) {
    let chain: ChainCertificate[]
    try {
      chain = blocks.map((block) => ({x509: new X509Certificate(block.der), parsed: parseCertificateDer(block.der)}))
    } catch {
      skipped.push({file: source, reason: 'a certificate in it does not parse'})
      continue
    }

    const key = keys.find(({state}) => state.state === 'found' && chain[0].x509.checkPrivateKey(state.key))
    if (!key || key.state.state !== 'found') {
      skipped.push({file: source, reason: 'no private key for it was found beside it'})
      continue
    }

    const chainPem = blocks.map((block) => encodePem('CERTIFICATE', block.der)).join('')
    candidates.push({source, chain, chainPem, sourceMode: mode, key: {...key.state, pem: key.pem}})
  }

  // The same leaf from cert.pem and fullchain.pem: keep the longer chain.
  const byLeaf = new Map<string, Candidate>()
  for (const candidate of candidates) {
    const fingerprint = candidate.chain[0].x509.fingerprint256
    const known = byLeaf.get(fingerprint)
    if (!known || candidate.chain.length > known.chain.length) byLeaf.set(fingerprint, candidate)
  }

  return {candidates: [...byLeaf.values()], skipped}
}

function existingMode(file: string): {mode: number; uid: number; gid: number} | undefined {
  try {
    const stat = statSync(file)
    return {mode: stat.mode & 0o777, uid: stat.uid, gid: stat.gid}
  } catch {
    return undefined
  }
}

function installedNotAfter(file: string): Date | undefined {
  try {
    const block = parsePem(readFileSync(file, 'utf8')).find((candidate) => candidate.label === 'CERTIFICATE')
    return block ? parseCertificateDer(block.der).notAfter : undefined
  } catch {
    return undefined
  }
}

function sameContent(file: string, content: string): boolean {
  try {
    return readFileSync(file, 'utf8') === content
  } catch {
    return false
  }
}

export function importCertificates(config: Configuration, inputs: readonly string[], options: ImportOptions): ImportResult {
  const env = options.env ?? process.env
  const now = options.now ?? new Date()
  const lineage = env.RENEWED_LINEAGE
  const deployHook = Boolean(lineage)
  // certbot lists the lineage's names in RENEWED_DOMAINS (space-separated).
  const renewed = (env.RENEWED_DOMAINS ?? '').split(/\s+/).filter(Boolean)
  // As a certbot deploy hook, only the renewed lineage changed: read just that.
  const sources = (deployHook ? [lineage as string] : inputs).map((input) => path.resolve(input))
  if (sources.length === 0) {
    throw new XmppctlError('usage', 'no directory given', {hint: 'give a certbot directory such as /etc/letsencrypt, or a directory of PEM files'})
  }

  const files = sources.flatMap((source) => {
    const found = collectFiles(source)
    if (found.length === 0) {
      throw new XmppctlError('no-certificates', `${source} contains no PEM files (*.pem, *.crt, *.cer, *.key)`, {
        hint: 'give a certbot directory such as /etc/letsencrypt, a live/NAME lineage, or a directory of PEM files',
      })
    }

    return found
  })
  const {candidates, skipped} = toCandidates(parseFiles(files))
  const dir = ensureCertsDir(config)
  const dirOwner = statSync(dir)
  const imported: ImportedHost[] = []
  const missing: ImportResult['missing'] = []
  for (const host of config.hosts) {
    const covering = candidates.filter((candidate) => matchHost(candidate.chain[0].parsed.names, host))
    const current = covering.filter(({chain: [leaf]}) => leaf.parsed.notBefore <= now && leaf.parsed.notAfter > now)
    if (current.length === 0) {
      // A deploy hook runs for every renewal: hosts this lineage is not about are none of its business.
      const concerned = !deployHook || covering.length > 0 || renewed.some((name) => dnsNameMatches(name, host))
      if (concerned) {
        missing.push({host, reason: covering.length > 0 ? 'the certificates naming it are expired or not yet valid' : 'no certificate names it'})
      }

      continue
    }

    const best = current.sort((a, b) => b.chain[0].parsed.notAfter.getTime() - a.chain[0].parsed.notAfter.getTime())[0]
    const files = hostFiles(dir, host)
    const entry: ImportedHost = {
      host,
      source: best.source,
      keySource: best.key.file,
      certFile: files.cert,
      keyFile: files.key,
      names: describeNames(best.chain[0].parsed.names),
      notAfter: best.chain[0].parsed.notAfter.toISOString(),
      status: 'installed',
    }
    if (sameContent(files.cert, best.chainPem) && sameContent(files.key, best.key.pem)) {
      imported.push({...entry, status: 'unchanged'})
      continue
    }

    const installed = installedNotAfter(files.cert)
    if (!options.force && installed && installed > best.chain[0].parsed.notAfter && existsSync(files.key)) {
      imported.push({...entry, status: 'kept'})
      continue
    }

    install(files.key, best.key.pem, KEY_MODE & (best.key.mode ?? KEY_MODE), dirOwner)
    install(files.cert, best.chainPem, CERT_MODE & best.sourceMode, dirOwner)
    imported.push(entry)
  }

  return {deployHook, sources, imported, missing, skipped, reloadNeeded: imported.some((entry) => entry.status === 'installed')}
}

/**
 * Never wider than the standard mode, the source's mode or the file it
 * replaces; as root, the new file keeps the replaced file's owner (else the
 * certs directory's), so a server running as its own user can still read it.
 */
function install(file: string, content: string, mode: number, dirOwner: {uid: number; gid: number}): void {
  const existing = existingMode(file)
  const owner = process.getuid?.() === 0 ? (existing ?? dirOwner) : undefined
  writeFileSecure(file, content, {
    mode: mode & (existing?.mode ?? 0o777),
    overwrite: true,
    owner: owner ? {uid: owner.uid, gid: owner.gid} : undefined,
  })
}
