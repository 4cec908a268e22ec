/**
 * The HTTP side of XEP-0363 (ejabberd's mod_http_upload request handler):
 * PUT stores a slot's file once, checked against the slot's size and content
 * type (§4); GET and HEAD serve it with a type a browser will not run as a
 * page, as an attachment unless it is media, and with range requests.
 */
import {createReadStream, createWriteStream, promises as fs} from 'node:fs'
import type {IncomingMessage, ServerResponse} from 'node:http'
import path from 'node:path'
import {pipeline} from 'node:stream/promises'

import parseRange from 'range-parser'

import {type HttpHandler, SECURITY_HEADERS, answer} from './http.js'
import type {Logger} from './log.js'
import {randomToken} from './random.js'
import type {UploadStore} from './upload-store.js'

/** Types served as themselves and shown inline: media a browser renders without running anything. */
const INLINE_TYPES = /^(image\/(png|jpeg|gif|webp|avif|bmp)|audio\/[a-z0-9.+-]+|video\/[a-z0-9.+-]+)$/
/** Other types served as themselves, as attachments; everything else (text/html, image/svg+xml, …) is application/octet-stream. */
const ATTACHMENT_TYPES = /^(text\/plain|application\/(pdf|zip|gzip|x-tar|octet-stream|json)|text\/csv)$/

export function servedType(contentType: string): {type: string; inline: boolean} {
  if (INLINE_TYPES.test(contentType)) return {type: contentType, inline: true}
  if (ATTACHMENT_TYPES.test(contentType)) return {type: contentType.startsWith('text/') ? `${contentType}; charset=utf-8` : contentType, inline: false}
  return {type: 'application/octet-stream', inline: false}
}

/** RFC 6266 with RFC 8187's filename*: any name, no header injection. */
function disposition(inline: boolean, filename: string): string {
  const ascii = filename.replace(/[^\x20-\x7e]|["\\]/g, '_')
  return `${inline ? 'inline' : 'attachment'}; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(filename)}`
}

export function uploadHandler(store: UploadStore, logger: Logger): HttpHandler {
  return {
    request(request, response, urlPath) {
      const pathname = urlPath.split('?')[0]
      const done = (error: unknown) => {
        logger.error(`upload ${request.method} ${pathname}: ${error instanceof Error ? error.message : String(error)}`)
        request.resume()
        answer(response, 500, 'the upload could not be stored')
      }

      if (request.method === 'PUT') put(store, logger, request, response, pathname).catch(done)
      else if (request.method === 'GET' || request.method === 'HEAD') get(store, request, response, pathname).catch(done)
      else {
        request.resume()
        answer(response, 405, 'uploads take PUT, and are fetched with GET (XEP-0363 §5)', {Allow: 'PUT, GET, HEAD'})
      }
    },
  }
}

async function put(store: UploadStore, logger: Logger, request: IncomingMessage, response: ServerResponse, pathname: string): Promise<void> {
  const slot = await store.find(pathname)
  const refuse = (status: number, text: string) => {
    request.resume()
    answer(response, status, text)
  }

  if (!slot) return refuse(403, 'no such upload slot')
  if (slot.meta.complete) return refuse(409, 'this slot was used already: ask for a new one')
  if (slot.meta.putUntil < Date.now()) return refuse(403, 'this slot expired: ask for a new one')
  const length = Number(request.headers['content-length'])
  // §5: the size and content type the slot was asked for.
  if (request.headers['content-length'] === undefined || length !== slot.meta.size) return refuse(length > slot.meta.size ? 413 : 400, `Content-Length must be the slot's size, ${slot.meta.size}`)
  const type = (request.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase()
  // A slot asked for without a type stores application/octet-stream, and then a PUT may name none; one asked for
  // with a type must be filled with that type, so a file is never served as other than what its slot promised.
  const unnamedAllowed = type === '' && slot.meta.contentType === 'application/octet-stream'
  if (type !== slot.meta.contentType && !unnamedAllowed) return refuse(400, `Content-Type must be the slot's, ${slot.meta.contentType}`)
  const temporary = path.join(slot.dir, `upload.${randomToken(6)}`)
  // Node's HTTP parser ends the body at Content-Length, checked above to be the slot's size: no more can arrive.
  // Large writes: the default 16 KiB chunks cost a system call each.
  const output = createWriteStream(temporary, {mode: 0o600, flags: 'wx', highWaterMark: 1024 * 1024})
  try {
    // 0600 from creation: uploads are the accounts' data.
    await pipeline(request, output)
  } catch (error) {
    await fs.rm(temporary, {force: true})
    if (!response.headersSent) answer(response, 400, 'the upload was cut short', {Connection: 'close'})
    logger.debug(`upload PUT ${pathname}: ${error instanceof Error ? error.message : String(error)}`)
    return
  }

  const received = output.bytesWritten
  if (received !== slot.meta.size) {
    await fs.rm(temporary, {force: true})
    return answer(response, 400, `the body had ${received} bytes, the slot ${slot.meta.size}`)
  }

  // Another PUT may have finished first: the file that is renamed into place last wins, and both were complete.
  await fs.rename(temporary, slot.file)
  await store.complete(slot.dir, slot.meta)
  logger.info(`upload stored for ${slot.meta.owner}: ${slot.meta.size} bytes`)
  answer(response, 201, '')
}

async function get(store: UploadStore, request: IncomingMessage, response: ServerResponse, pathname: string): Promise<void> {
  request.resume()
  const slot = await store.find(pathname)
  if (!slot?.meta.complete) return answer(response, 404, 'not found')
  const {type, inline} = servedType(slot.meta.contentType)
  const headers: Record<string, string> = {
    ...SECURITY_HEADERS,
    'Content-Type': type,
    'Content-Disposition': disposition(inline, slot.meta.filename),
    'Accept-Ranges': 'bytes',
    'Cache-Control': 'private, max-age=86400',
    'Last-Modified': new Date(slot.meta.created).toUTCString(),
    // Pages elsewhere may show the file (a web client's previews), not read it with credentials.
    'Access-Control-Allow-Origin': '*',
  }
  const size = slot.meta.size
  const range = request.headers.range === undefined ? undefined : parseRange(size, request.headers.range, {combine: true})
  if (range === -1) return answer(response, 416, 'range not satisfiable', {'Content-Range': `bytes */${size}`})
  // One range is served as 206; several (or a malformed header, -2) get the whole file.
  if (Array.isArray(range) && range.type === 'bytes' && range.length === 1) {
    const [{start, end}] = range
    response.writeHead(206, {...headers, 'Content-Range': `bytes ${start}-${end}/${size}`, 'Content-Length': String(end - start + 1)})
    if (request.method === 'HEAD') return void response.end()
    await pipeline(createReadStream(slot.file, {start, end, highWaterMark: 1024 * 1024}), response)
    return
  }

  response.writeHead(200, {...headers, 'Content-Length': String(size)})
  if (request.method === 'HEAD') return void response.end()
  await pipeline(createReadStream(slot.file, {highWaterMark: 1024 * 1024}), response)
}
