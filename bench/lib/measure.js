// Shared by the benchmarks that run the real CLI as a child process.
import {spawn} from 'node:child_process'
import {readFileSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

// The real CLI as a child: wall time, and peak RSS (VmHWM from /proc, polled until it exits).
export const root = fileURLToPath(new URL('../..', import.meta.url))
const bin = path.join(root, 'bin', 'run.js')

function peakKb(pid) {
  try {
    const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return match ? Number(match[1]) : 0
  } catch {
    return 0
  }
}

/** Runs `xmppctl ARGS` in `cwd`; kills it after `limitMs` if given. */
export function runMeasured(args, {cwd, limitMs} = {}) {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint()
    const child = spawn(process.execPath, [bin, ...args], {cwd, stdio: ['ignore', 'pipe', 'pipe'], env: {...process.env, NO_COLOR: '1'}})
    let stdout = ''
    let stderr = ''
    let peak = 0
    child.stdout.on('data', (chunk) => (stdout += chunk))
    child.stderr.on('data', (chunk) => (stderr += chunk))
    const poll = setInterval(() => (peak = Math.max(peak, peakKb(child.pid))), 50)
    const limit = limitMs ? setTimeout(() => child.kill('SIGKILL'), limitMs) : undefined
    child.on('error', reject)
    child.on('exit', (code, signal) => {
      clearInterval(poll)
      clearTimeout(limit)
      const ms = Number(process.hrtime.bigint() - start) / 1e6
      if (code !== 0 && signal !== 'SIGKILL') reject(new Error(`xmppctl ${args.join(' ')} failed (${code}): ${stderr}`))
      else resolve({ms, peakMb: Math.round(peak / 1024), stdout, stderr, killed: signal === 'SIGKILL'})
    })
  })
}

export const round = (value) => Math.round(value * 100) / 100
