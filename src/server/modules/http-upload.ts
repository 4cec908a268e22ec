/**
 * mod_http_upload: HTTP file upload (XEP-0363) as a service on upload.HOST.
 * An account asks the service for a slot (§4) and gets a PUT and a GET URL
 * on the http listener's mod_http_upload path; the files themselves are
 * served by src/server/upload-http.ts from the same UploadStore.
 */
import {NS} from '../../xml/namespaces.js'
import {errorReply, iqResult} from '../stanza.js'
import {UploadStore} from '../upload-store.js'
import {type Element, x} from '../../xml/element.js'
import type {HostedService, ModuleContext, Sender, ServerModule} from './types.js'

export const UPLOAD_NS = 'urn:xmpp:http:upload:0'

export interface HttpUploadOptions {
  /** ejabberd's `host`: the service's domain, `@HOST@` replaced by each host. */
  host: string
  maxSize: number
  /** Bytes one account's files may take together. */
  userQuota: number
  /** Base URL of the uploads (ejabberd's put_url, `@HOST@` replaced); undefined: the http listener's own. */
  putUrl: string | undefined
}

export function createHttpUploadModule(context: ModuleContext, options: HttpUploadOptions): ServerModule {
  const store = new UploadStore(context.dataDir)
  const domainOf = (host: string) => options.host.replaceAll('@HOST@', host)
  const hostOf = (domain: string) => context.hosts().find((host) => domainOf(host) === domain)

  const discoInfo = (stanza: Element, domain: string, sender: Sender) => {
    // XEP-0363 §3 and XEP-0128: the identity, the feature, and the size limit as a form.
    const form = x(
      'x',
      NS.dataForms,
      {type: 'result'},
      x('field', NS.dataForms, {var: 'FORM_TYPE', type: 'hidden'}, x('value', NS.dataForms, {}, UPLOAD_NS)),
      x('field', NS.dataForms, {var: 'max-file-size'}, x('value', NS.dataForms, {}, String(options.maxSize))),
    )
    sender.send(
      iqResult(
        stanza,
        domain,
        x('query', NS.discoInfo, {}, x('identity', NS.discoInfo, {category: 'store', type: 'file', name: 'HTTP File Upload'}), x('feature', NS.discoInfo, {var: UPLOAD_NS}), x('feature', NS.discoInfo, {var: NS.discoInfo}), form),
      ),
    )
  }

  const requestSlot = async (stanza: Element, request: Element, host: string, sender: Sender) => {
    // Slots are for this server's own accounts, whose JID the stream authenticated.
    if (!sender.localSession || sender.jid?.domain !== host) return sender.send(errorReply(stanza, 'forbidden', undefined, 'only accounts of this server may upload here'))
    const filename = request.attrs.filename ?? ''
    const size = Number(request.attrs.size)
    // The file name becomes the URL's last segment: no path separators, no control characters.
    if (filename === '' || filename.length > 255 || /[/\\\u0000-\u001f\u007f]/.test(filename) || filename === '.' || filename === '..') {
      return sender.send(errorReply(stanza, 'bad-request', undefined, 'the filename must be a plain name'))
    }

    if (!Number.isSafeInteger(size) || size <= 0) return sender.send(errorReply(stanza, 'bad-request', undefined, 'size must be a positive number of bytes'))
    if (size > options.maxSize) {
      // §4: too large, with the limit in <file-too-large/>.
      const reply = errorReply(stanza, 'not-acceptable', undefined, `the file is larger than ${options.maxSize} bytes`)
      reply.getChild('error')!.append(x('file-too-large', UPLOAD_NS, {}, x('max-file-size', UPLOAD_NS, {}, String(options.maxSize))))
      return sender.send(reply)
    }

    const contentType = (request.attrs['content-type'] ?? 'application/octet-stream').trim().toLowerCase()
    if (!/^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/.test(contentType)) return sender.send(errorReply(stanza, 'bad-request', undefined, 'content-type must be a MIME type'))
    const owner = sender.bareJid
    if ((await store.usage(owner)) + size > options.userQuota) {
      return sender.send(errorReply(stanza, 'resource-constraint', undefined, `this account's uploads would exceed its quota of ${options.userQuota} bytes`))
    }

    const base = options.putUrl?.replaceAll('@HOST@', host) ?? context.listenerUrl('mod_http_upload', host)
    if (base === undefined) return sender.send(errorReply(stanza, 'service-unavailable', undefined, 'no http listener serves mod_http_upload'))
    const slot = await store.create(owner, filename, size, contentType)
    const url = `${base.replace(/\/+$/, '')}${slot.path}`
    // §4: the PUT must carry the slot's content type; the GET URL is the same address.
    sender.send(iqResult(stanza, undefined, x('slot', UPLOAD_NS, {}, x('put', UPLOAD_NS, {url}), x('get', UPLOAD_NS, {url}))))
    context.logger.info(`upload slot for ${owner}: ${size} bytes (${contentType})`)
  }

  const service: HostedService = {
    domain: domainOf,
    async handle(stanza, sender, to) {
      const host = hostOf(to.domain)
      const type = stanza.attrs.type
      if (stanza.name === 'presence' || type === 'error' || type === 'result') return
      if (host === undefined || to.local !== '' || to.resource !== '') return sender.send(errorReply(stanza, 'service-unavailable'))
      if (stanza.name !== 'iq') return sender.send(errorReply(stanza, 'service-unavailable'))
      const child = stanza.children.find((node): node is Element => typeof node !== 'string')
      if (type === 'get' && child?.name === 'query' && child.ns === NS.discoInfo && child.attrs.node === undefined) return discoInfo(stanza, to.domain, sender)
      if (type === 'get' && child?.name === 'query' && child.ns === NS.discoItems) return sender.send(iqResult(stanza, undefined, x('query', NS.discoItems)))
      if (type === 'get' && child?.name === 'request' && child.ns === UPLOAD_NS) return requestSlot(stanza, child, host, sender)
      return sender.send(errorReply(stanza, 'service-unavailable'))
    },
  }

  return {name: 'mod_http_upload', service}
}
