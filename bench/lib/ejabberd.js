// Debian's ejabberd (23.01) as a reference server, shared by bench/muc.js and
// bench/cluster.js: started by root, ejabberdctl run as the ejabberd user,
// with a configuration, node name, spool, logs and loopback port of its own.
import {spawnSync} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {chownSync, mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import net from 'node:net'
import path from 'node:path'

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.listen(0, '127.0.0.1', () => {
      const {port} = server.address()
      server.close(() => resolve(port))
    })
    server.on('error', reject)
  })
}

/** Waits (at most 30 s) until something accepts connections on `port` of 127.0.0.1; `log` says why not. */
export async function waitListening(port, what, log) {
  for (let attempt = 0; attempt < 300; attempt++) {
    const open = await new Promise((resolve) => {
      const socket = net.connect({port, host: '127.0.0.1'}, () => {
        socket.destroy()
        resolve(true)
      })
      socket.on('error', () => resolve(false))
    })
    if (open) return
    await sleep(100)
  }

  throw new Error(`${what} did not listen on ${port}: ${log()}`)
}

function userId(name) {
  return {uid: Number(spawnSync('id', ['-u', name], {encoding: 'utf8'}).stdout), gid: Number(spawnSync('id', ['-g', name], {encoding: 'utf8'}).stdout)}
}

/**
 * Starts ejabberd in `dir`/ejabberd (`dir` must be 0755: ejabberd's user
 * reaches its files there): `config(port)` gives the lines of its
 * ejabberd.yml for a free loopback port; `prepare(ctl, owned)`, if given,
 * runs once it started (an import, say). Resolves with {unavailable} when it
 * cannot run here, or {port, pid(), ctl, owned, stop()}; `owned(name)` makes
 * a directory ejabberd's user owns; ctl runs ejabberdctl with this node's
 * options.
 */
export async function startEjabberd(dir, config) {
  if (spawnSync('sh', ['-c', 'command -v ejabberdctl']).status !== 0) return {unavailable: 'ejabberdctl not found (apt-get install ejabberd)'}
  if (process.getuid?.() !== 0) return {unavailable: 'ejabberd runs as its own user here: run the benchmark as root'}
  const home = path.join(dir, 'ejabberd')
  mkdirSync(home, {mode: 0o755})
  const {uid, gid} = userId('ejabberd')
  const owned = (name) => {
    const sub = path.join(home, name)
    mkdirSync(sub)
    chownSync(sub, uid, gid)
    return sub
  }

  const spool = owned('spool')
  const logs = owned('logs')
  const port = await freePort()
  const node = `xmppctlbench${randomBytes(3).toString('hex')}@localhost`
  writeFileSync(path.join(home, 'ejabberd.yml'), [...config(port, owned), ''].join('\n'))
  writeFileSync(path.join(home, 'inetrc'), '{lookup,[file,native]}.\n')
  const base = ['--config-dir', home, '--config', path.join(home, 'ejabberd.yml'), '--ctl-config', path.join(home, 'none.cfg'), '--node', node, '--spool', spool, '--logs', logs]
  // As the ejabberd user rather than through ejabberdctl's `su`, whose pam_limits would bring the VM's open files back
  // to 1024 (the VM sizes its table of descriptors once, at boot): it keeps this process's limit, which the benchmark raised.
  const userHome = spawnSync('sh', ['-c', 'getent passwd ejabberd | cut -d: -f6'], {encoding: 'utf8'}).stdout.trim() || '/var/lib/ejabberd'
  const env = {...process.env, HOME: userHome, USER: 'ejabberd', LOGNAME: 'ejabberd'}
  const ctl = (...args) => spawnSync('ejabberdctl', [...base, ...args], {encoding: 'utf8', timeout: 600_000, uid, gid, env, cwd: spool})
  const stop = async () => {
    ctl('stop')
    ctl('stopped')
  }

  const started = ctl('start')
  if (started.status !== 0) return {unavailable: `ejabberdctl start failed: ${started.stdout}${started.stderr}`}
  if (ctl('started').status !== 0) {
    await stop()
    return {unavailable: `ejabberd did not start; see ${logs}`}
  }

  try {
    await waitListening(port, 'ejabberd', () => readFileSync(path.join(logs, 'ejabberd.log'), 'utf8').slice(-2000))
  } catch (error) {
    await stop()
    throw error
  }

  // The Erlang VM of this node: the beam.smp whose arguments name it.
  const pid = Number(spawnSync('pgrep', ['-f', `beam.smp.*${node.split('@')[0]}`], {encoding: 'utf8'}).stdout.trim().split('\n')[0])
  return {port, pid: () => pid, ctl, owned, logs, stop}
}
