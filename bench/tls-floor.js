#!/usr/bin/env node
// What one idle connection costs Node.js itself, before any XMPP: the floor
// under bench/server.js's idle TLS session figure (issue 19's 30 KiB target).
//
// A bare server in a child process (this file with --serve) accepts
// BENCH_CONNECTIONS connections (default 2000) from this process. Each
// connection exchanges a few small records, then the server answers once
// with BENCH_WRITE bytes; RSS per connection is read once every connection
// is idle, and again after they all closed. Cases (BENCH_CASES, comma list):
//   plain       net.Socket, no TLS
//   tls         TLS 1.3 (ECDSA P-256), small records only
//   tls-write   TLS, and one server write of BENCH_WRITE bytes (default 3000)
//   tls-read    TLS, and one client write of BENCH_WRITE bytes
// Node's TLS wrapper buffers ciphertext in a ring (NodeBIO) that starts at
// 1 KiB and adds 16 KiB buffers once more is pending; the ring keeps them
// for the connection's life, which tls-write and tls-read show.
// Run it with another node (PATH) to compare Node.js versions.
// Prints one JSON line.
import {execFileSync, fork} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import net from 'node:net'
import {tmpdir} from 'node:os'
import path from 'node:path'
import tls from 'node:tls'
import {fileURLToPath} from 'node:url'

const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 2000)
const WRITE = Number(process.env.BENCH_WRITE ?? 3000)
const CASES = (process.env.BENCH_CASES ?? 'plain,tls,tls-write,tls-read').split(',')
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

if (process.argv[2] === '--serve') serve(process.argv[3], process.argv[4])
else await main()

function serve(kind, dir) {
  const context = tls.createSecureContext({key: readFileSync(path.join(dir, 'key.pem')), cert: readFileSync(path.join(dir, 'cert.pem'))})
  const sockets = []
  const server = net.createServer((socket) => {
    socket.on('error', () => {})
    if (kind === 'plain') {
      sockets.push(socket)
      socket.on('data', () => socket.write('ok'))
      return
    }

    const secure = new tls.TLSSocket(socket, {isServer: true, secureContext: context})
    secure.on('error', () => {})
    sockets.push(secure)
    let received = 0
    // The third record of the client asks for the large answer in tls-write.
    secure.on('data', () => secure.write(kind === 'tls-write' && ++received === 3 ? 'x'.repeat(WRITE) : 'ok'))
  })
  server.listen(0, '127.0.0.1', () => process.send({port: server.address().port}))
  process.on('message', () => {
    globalThis.gc?.()
    process.send({rss: process.memoryUsage().rss})
  })
}

async function main() {
  const dir = mkdtempSync(path.join(tmpdir(), 'xmppctl-tls-floor-'))
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=localhost'], {stdio: 'ignore'})
    const results = {}
    for (const kind of CASES) results[kind] = await measure(kind, dir)
    console.log(JSON.stringify({bench: 'tls-floor', node: process.version, openssl: process.versions.openssl, connections: CONNECTIONS, write_bytes: WRITE, kib_per_connection: results}))
  } finally {
    rmSync(dir, {recursive: true, force: true})
  }
}

async function measure(kind, dir) {
  const child = fork(fileURLToPath(import.meta.url), ['--serve', kind, dir], {execArgv: ['--expose-gc']})
  const {port} = await new Promise((resolve) => child.once('message', resolve))
  const rss = () => new Promise((resolve) => {
    child.once('message', (message) => resolve(message.rss))
    child.send('measure')
  })
  await sleep(500)
  const before = await rss()
  const connections = []
  const exchange = (socket) => new Promise((resolve) => {
    let answers = 0
    socket.on('data', () => {
      if (++answers >= 3) return resolve()
      socket.write(kind === 'tls-read' && answers === 2 ? 'y'.repeat(WRITE) : 'hello')
    })
    socket.write('hello')
  })
  const open = () => new Promise((resolve, reject) => {
    const socket = kind === 'plain' ? net.connect(port, '127.0.0.1') : tls.connect({port, host: '127.0.0.1', rejectUnauthorized: false})
    socket.once(kind === 'plain' ? 'connect' : 'secureConnect', () => exchange(socket).then(resolve))
    socket.once('error', reject)
    connections.push(socket)
  })
  // Bounded: CONNECTIONS in batches of 50.
  for (let opened = 0; opened < CONNECTIONS; opened += 50) await Promise.all(Array.from({length: Math.min(50, CONNECTIONS - opened)}, open))
  await sleep(3000)
  const idle = await rss()
  for (const socket of connections) socket.destroy()
  await sleep(5000)
  const closed = await rss()
  child.kill()
  const kib = (bytes) => Math.round((bytes / 1024) * 10) / 10
  return {idle: kib((idle - before) / CONNECTIONS), after_close_mib: Math.round((closed - before) / 1048576)}
}
