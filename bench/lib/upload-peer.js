// A child process of bench/upload.js, so that its CPU time is its own:
// `xmppctl` mode runs the bundled server with an https listener serving
// mod_http_upload; `tls` mode a bare TLS server with the same certificate that
// swallows what it is sent, or sends N bytes. Prints {"port": N} when ready and
// stops when its standard input closes.
import {readFileSync} from 'node:fs'
import path from 'node:path'
import tls from 'node:tls'
import {fileURLToPath} from 'node:url'

const root = fileURLToPath(new URL('../..', import.meta.url))
const [mode, dataDir] = process.argv.slice(2)
process.stdin.resume()

if (mode === 'xmppctl') {
  const {Configuration} = await import(path.join(root, 'dist/src/config/index.js'))
  const {DEFAULT_MODULES} = await import(path.join(root, 'dist/src/config/modules.js'))
  const {defaultSettings} = await import(path.join(root, 'dist/src/config/schema.js'))
  const {XmppServer} = await import(path.join(root, 'dist/src/server/server.js'))
  const settings = {
    ...defaultSettings(),
    data_dir: dataDir,
    listen: [{port: 0, ip: '127.0.0.1', module: 'http', starttls: 'required', tls: true, request_handlers: {'/upload': 'mod_http_upload'}}],
    modules: {...DEFAULT_MODULES, mod_http_upload: {host: 'upload.@HOST@', max_size: 2 ** 31, user_quota: 2 ** 40, max_days: 1}},
  }
  const server = new XmppServer(new Configuration(path.join(dataDir, 'xmppctl.yml'), settings))
  const [listener] = await server.start()
  process.stdout.write(`${JSON.stringify({port: listener.port})}\n`)
  process.stdin.on('end', () => server.stop().then(() => process.exit(0)))
} else {
  const certs = path.join(dataDir, 'certs')
  const server = tls.createServer({cert: readFileSync(path.join(certs, 'localhost.crt')), key: readFileSync(path.join(certs, 'localhost.key'))}, (socket) => {
    // One line: "up N" (read N bytes, answer "ok") or "down N" (send N bytes).
    let header = ''
    let left = 0
    const onData = (chunk) => {
      if (left === 0) {
        header += chunk.toString('latin1')
        const end = header.indexOf('\n')
        if (end === -1) return
        const [verb, count] = header.slice(0, end).split(' ')
        const rest = chunk.subarray(chunk.length - (header.length - end - 1))
        if (verb === 'down') {
          socket.off('data', onData)
          const block = Buffer.alloc(64 * 1024, 7)
          let sent = 0
          const pump = () => {
            while (sent < Number(count)) {
              const size = Math.min(block.length, Number(count) - sent)
              sent += size
              if (!socket.write(size === block.length ? block : block.subarray(0, size))) return void socket.once('drain', pump)
            }
            socket.end()
          }
          return pump()
        }
        left = Number(count)
        chunk = rest
      }
      left -= chunk.length
      if (left <= 0) socket.end('ok')
    }
    socket.on('data', onData)
    socket.on('error', () => {})
  })
  server.listen(0, '127.0.0.1', () => process.stdout.write(`${JSON.stringify({port: server.address().port})}\n`))
  process.stdin.on('end', () => process.exit(0))
}
