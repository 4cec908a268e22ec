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
/** User + system CPU seconds of `pid` so far (/proc/PID/stat, clock ticks of 1/100 s), or undefined once it is gone. */
function cpuSeconds(pid) {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
    return (Number(fields[11]) + Number(fields[12])) / 100
  } catch {
    return undefined
  }
}

export function runMeasured(args, {cwd, limitMs} = {}) {
  return commandMeasured(process.execPath, [bin, ...args], {cwd, limitMs})
}

/** Runs any command (another server's importer) as runMeasured runs xmppctl; its peak RSS is that of the process it execs into. */
export function commandMeasured(command, args, {cwd, limitMs} = {}) {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint()
    const child = spawn(command, args, {cwd, stdio: ['ignore', 'pipe', 'pipe'], env: {...process.env, NO_COLOR: '1'}})
    let stdout = ''
    let stderr = ''
    let peak = 0
    child.stdout.on('data', (chunk) => (stdout += chunk))
    child.stderr.on('data', (chunk) => (stderr += chunk))
    let cpu = 0
    const poll = setInterval(() => {
      peak = Math.max(peak, peakKb(child.pid))
      cpu = cpuSeconds(child.pid) ?? cpu
    }, 50)
    const limit = limitMs ? setTimeout(() => child.kill('SIGKILL'), limitMs) : undefined
    child.on('error', reject)
    child.on('exit', (code, signal) => {
      clearInterval(poll)
      clearTimeout(limit)
      const ms = Number(process.hrtime.bigint() - start) / 1e6
      if (code !== 0 && signal !== 'SIGKILL') reject(new Error(`${path.basename(command)} ${args.join(' ')} failed (${code}): ${stderr}`))
      else resolve({ms, peakMb: Math.round(peak / 1024), cpuS: cpu, stdout, stderr, killed: signal === 'SIGKILL'})
    })
  })
}

export const round = (value) => Math.round(value * 100) / 100
