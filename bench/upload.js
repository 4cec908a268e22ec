#!/usr/bin/env node
// XEP-0363 upload and download throughput of the bundled server's https
// listener against a bare TLS server on the same machine with the same
// certificate (the most any HTTPS server could do here): a 100 MB file PUT
// and fetched back, rounds alternating between the two servers, each in its
// own process. Prints one JSON line: MB/s of each, the ratios, and MB per
// second of server CPU. BENCH_UPLOAD_MB, BENCH_ROUNDS.
import {spawn} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import https from 'node:https'
import os from 'node:os'
import path from 'node:path'
import tls from 'node:tls'
import {fileURLToPath} from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const MB = Number(process.env.BENCH_UPLOAD_MB ?? 100)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const SIZE = MB * 1024 * 1024
const {UploadStore} = await import(path.join(root, 'dist/src/server/upload-store.js'))

function peer(mode, dataDir) {
  const child = spawn(process.execPath, [path.join(root, 'bench/lib/upload-peer.js'), mode, dataDir], {stdio: ['pipe', 'pipe', 'inherit']})
  return new Promise((resolve, reject) => {
    let text = ''
    child.stdout.on('data', (chunk) => {
      text += chunk
      if (text.includes('\n')) resolve({child, port: JSON.parse(text).port})
    })
    child.on('exit', (code) => reject(new Error(`${mode} peer exited ${code}`)))
  })
}

/** User+system CPU seconds of a process so far (Linux /proc). */
function cpuSeconds(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
  // utime and stime, in clock ticks (100 per second on Linux).
  return (Number(fields[11]) + Number(fields[12])) / 100
}

const block = Buffer.alloc(1024 * 1024, 7)
async function* body() {
  for (let sent = 0; sent < SIZE; sent += block.length) yield block
}

async function measure(pid, run) {
  const cpu = cpuSeconds(pid)
  const started = process.hrtime.bigint()
  await run()
  return {seconds: Number(process.hrtime.bigint() - started) / 1e9, cpu: cpuSeconds(pid) - cpu}
}

function httpsRequest(url, method, source) {
  return new Promise((resolve, reject) => {
    const request = https.request(url, {method, rejectUnauthorized: false, headers: method === 'PUT' ? {'Content-Length': String(SIZE), 'Content-Type': 'application/octet-stream'} : {}}, (response) => {
      let received = 0
      response.on('data', (chunk) => (received += chunk.length))
      response.on('end', () => (response.statusCode >= 300 ? reject(new Error(`${method} ${response.statusCode}`)) : resolve(received)))
    })
    request.on('error', reject)
    if (source) {
      ;(async () => {
        for await (const chunk of source) if (!request.write(chunk)) await new Promise((r) => request.once('drain', r))
        request.end()
      })()
    } else request.end()
  })
}

function rawTls(port, verb) {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({port, host: '127.0.0.1', rejectUnauthorized: false, servername: 'localhost'}, async () => {
      socket.write(`${verb} ${SIZE}\n`)
      if (verb === 'up') {
        for await (const chunk of body()) if (!socket.write(chunk)) await new Promise((r) => socket.once('drain', r))
      }
    })
    let received = 0
    socket.on('data', (chunk) => (received += chunk.length))
    socket.on('end', () => resolve(received))
    socket.on('error', reject)
  })
}

const dataDir = mkdtempSync(path.join(os.tmpdir(), 'xmppctl-bench-upload-'))
const server = await peer('xmppctl', dataDir)
const raw = await peer('tls', dataDir)
const store = new UploadStore(dataDir)
const totals = {xmppctlUp: [], xmppctlDown: [], tlsUp: [], tlsDown: []}
try {
  for (let round = 0; round < ROUNDS; round++) {
    const slot = await store.create('bench@localhost', `file${round}.bin`, SIZE, 'application/octet-stream')
    const url = `https://localhost:${server.port}/upload${slot.path}`
    totals.xmppctlUp.push(await measure(server.child.pid, () => httpsRequest(url, 'PUT', body())))
    totals.tlsUp.push(await measure(raw.child.pid, () => rawTls(raw.port, 'up')))
    totals.xmppctlDown.push(await measure(server.child.pid, async () => {
      if ((await httpsRequest(url, 'GET')) !== SIZE) throw new Error('short download')
    }))
    totals.tlsDown.push(await measure(raw.child.pid, () => rawTls(raw.port, 'down')))
  }
} finally {
  server.child.stdin.end()
  raw.child.stdin.end()
  await new Promise((resolve) => setTimeout(resolve, 500))
  rmSync(dataDir, {recursive: true, force: true})
}

const rate = (runs) => (MB * runs.length) / runs.reduce((total, run) => total + run.seconds, 0)
const perCpu = (runs) => (MB * runs.length) / runs.reduce((total, run) => total + run.cpu, 0)
const round1 = (value) => Math.round(value * 10) / 10
const result = {
  bench: 'upload',
  mb: MB,
  rounds: ROUNDS,
  upload_mb_s: round1(rate(totals.xmppctlUp)),
  download_mb_s: round1(rate(totals.xmppctlDown)),
  raw_tls_up_mb_s: round1(rate(totals.tlsUp)),
  raw_tls_down_mb_s: round1(rate(totals.tlsDown)),
  upload_ratio: Math.round((rate(totals.xmppctlUp) / rate(totals.tlsUp)) * 100) / 100,
  download_ratio: Math.round((rate(totals.xmppctlDown) / rate(totals.tlsDown)) * 100) / 100,
  upload_mb_per_server_cpu_s: round1(perCpu(totals.xmppctlUp)),
  download_mb_per_server_cpu_s: round1(perCpu(totals.xmppctlDown)),
  raw_tls_up_mb_per_cpu_s: round1(perCpu(totals.tlsUp)),
  raw_tls_down_mb_per_cpu_s: round1(perCpu(totals.tlsDown)),
}
process.stdout.write(`${JSON.stringify(result)}\n`)
