import {readFileSync, statSync} from 'node:fs'

import {XmppctlError, osErrorText} from '../errors.js'

/** One `-----BEGIN LABEL-----` block (RFC 7468). */
export interface PemBlock {
  label: string
  der: Buffer
}

const BLOCK = /-----BEGIN ([A-Z0-9 .]+)-----\r?\n([\s\S]*?)-----END \1-----/g
const PRIVATE_KEY_LABELS = new Set(['PRIVATE KEY', 'RSA PRIVATE KEY', 'EC PRIVATE KEY', 'ENCRYPTED PRIVATE KEY'])

/** Bounds what we read: a certificate chain or DH parameters are a few kilobytes. */
const MAX_PEM_BYTES = 1024 * 1024

export function isPrivateKeyLabel(label: string): boolean {
  return PRIVATE_KEY_LABELS.has(label)
}

/** The blocks in `text`, in order; headers (RFC 1421 "Proc-Type") and text between blocks are skipped. */
export function parsePem(text: string): PemBlock[] {
  const blocks: PemBlock[] = []
  for (const match of text.matchAll(BLOCK)) {
    const body = match[2]
      .split(/\r?\n/)
      .filter((line) => !line.includes(':'))
      .join('')
      .trim()
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body) || body.length % 4 !== 0) continue
    blocks.push({label: match[1], der: Buffer.from(body, 'base64')})
  }

  return blocks
}

export function encodePem(label: string, der: Uint8Array): string {
  const base64 = Buffer.from(der).toString('base64')
  const lines = base64.match(/.{1,64}/g) ?? []
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`
}

/** A typed error for a file that is not what the command needs; code `pem-invalid`, exit 2. */
export function pemError(file: string, message: string, hint: string): XmppctlError {
  return new XmppctlError('pem-invalid', `${file}: ${message}`, {hint})
}

/** Reads a PEM file, with one-line errors for a missing, unreadable, oversized or non-PEM file. */
export function readPemFile(file: string): {text: string; blocks: PemBlock[]} {
  let text: string
  try {
    if (statSync(file).size > MAX_PEM_BYTES) throw pemError(file, 'is larger than 1 MiB', 'give a PEM file (certificate, key or DH parameters)')
    text = readFileSync(file, 'utf8')
  } catch (error) {
    if (error instanceof XmppctlError) throw error
    throw new XmppctlError('file-unreadable', `cannot read ${file}: ${osErrorText(error)}`, {hint: 'check the path and its permissions'})
  }

  const blocks = parsePem(text)
  if (blocks.length === 0) {
    throw pemError(file, 'contains no PEM data', 'give a PEM file, one with "-----BEGIN ...-----" lines')
  }

  return {text, blocks}
}

/** The certificates of a PEM file (leaf first, as written), refusing a file that holds none. */
export function readCertificateBlocks(file: string): {certificates: Buffer[]; keys: PemBlock[]} {
  const {blocks} = readPemFile(file)
  const certificates = blocks.filter((block) => block.label === 'CERTIFICATE' || block.label === 'TRUSTED CERTIFICATE').map((block) => block.der)
  const keys = blocks.filter((block) => isPrivateKeyLabel(block.label))
  if (certificates.length === 0) {
    const found = [...new Set(blocks.map((block) => block.label))].join(', ')
    throw pemError(
      file,
      `contains ${keys.length > 0 ? 'a private key' : found} where a certificate was expected`,
      'give the certificate file (fullchain.pem, HOST.crt), not the key',
    )
  }

  return {certificates, keys}
}
