/**
 * Federation tests on one machine (shared/recipes/NOTES.md): the test file
 * re-runs itself inside `unshare --net --mount` (root), where only loopback
 * exists and /etc/resolv.conf is bind-mounted to name a dnsmasq on
 * 127.0.0.1 that serves each test domain's SRV and A records. Every server
 * (ours, Prosody, ejabberd) listens on its own 127.0.0.x on the standard
 * ports, and finds its peers through real DNS; nothing leaves the machine.
 * Also: a private CA that every server trusts, and its certificates.
 */
import {type ChildProcess, execFileSync, spawn, spawnSync} from 'node:child_process'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'

const FLAG = 'XMPPCTL_TEST_NETNS'

export const insideNamespace = process.env[FLAG] === '1'

function installed(tool: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0
}

/** Why the federation tests cannot run on this machine, or undefined when they can. */
export function namespaceUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'the federation tests need root (unshare --net --mount)'
  for (const tool of ['unshare', 'dnsmasq', 'ip', 'openssl']) if (!installed(tool)) return `${tool} is not installed (.ci/run installs dnsmasq-base, iproute2, openssl)`
  return undefined
}

/**
 * Outside the namespace: runs this test file again inside one, passes its
 * report through and exits with its status (never returns). Inside: returns.
 * When the namespace cannot be made, returns the reason (the caller skips,
 * or fails under CI=true).
 */
export async function enterNamespace(): Promise<string | undefined> {
  if (insideNamespace) return undefined
  const missing = namespaceUnavailable()
  if (missing) return missing
  const dir = mkdtempSync(path.join(os.tmpdir(), 'xmppctl-netns-'))
  const resolv = path.join(dir, 'resolv.conf')
  writeFileSync(resolv, 'nameserver 127.0.0.1\noptions attempts:1 timeout:1\n')
  const script = 'ip link set lo up && mount --bind "$XMPPCTL_RESOLV" /etc/resolv.conf && exec "$0" "$@"'
  const child = spawn('unshare', ['--net', '--mount', '--', 'sh', '-c', script, process.execPath, ...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: {...process.env, [FLAG]: '1', XMPPCTL_RESOLV: resolv},
  })
  const status = await new Promise<number>((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0))))
  rmSync(dir, {recursive: true, force: true})
  process.exit(status)
}

export interface DnsRecord {
  domain: string
  address: string
  /** SRV _xmpp-server._tcp (port 5269) unless false. */
  srv?: boolean
}

/** dnsmasq on 127.0.0.1:53 with `records`; other names get NXDOMAIN. Stopped by the returned function. */
export async function startDns(records: readonly DnsRecord[]): Promise<() => Promise<void>> {
  const args = ['--keep-in-foreground', '--no-resolv', '--no-hosts', '--bind-interfaces', '--listen-address=127.0.0.1', '--port=53', '--conf-file=/dev/null', '--user=root', '--pid-file=', '--log-facility=-']
  for (const record of records) {
    args.push(`--address=/${record.domain}/${record.address}`)
    if (record.srv !== false) args.push(`--srv-host=_xmpp-server._tcp.${record.domain},${record.domain},5269`)
  }

  const child = spawn('dnsmasq', args, {stdio: ['ignore', 'ignore', 'pipe']})
  let output = ''
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk))
  process.once('exit', () => child.kill('SIGKILL'))
  await waitForPort('127.0.0.1', 53, child, () => output)
  return () => stopChild(child)
}

export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
  await exited
  clearTimeout(timer)
}

/** Resolves once `host:port` accepts TCP connections; throws if `child` exits first or after `timeoutMs`. */
export async function waitForPort(host: string, port: number, child: ChildProcess | undefined, log: () => string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (child && child.exitCode !== null) throw new Error(`${child.spawnfile} exited with ${child.exitCode}:\n${log()}`)
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect({port, host}, () => {
        socket.destroy()
        resolve(true)
      })
      socket.on('error', () => resolve(false))
    })
    if (open) return
    if (Date.now() > deadline) throw new Error(`nothing listens on ${host}:${port}:\n${log()}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

export interface Pki {
  dir: string
  ca: string
  /** The CA-signed certificate and key of `domain` (one PEM file with both, and each alone); `dnsOnly`: no XmppAddr or SRV-ID; `services`: more DNS-IDs (conference.DOMAIN). */
  issue(domain: string, options?: {dnsOnly?: boolean; services?: string[]}): {cert: string; key: string; both: string}
  /** A self-signed certificate for `domain`: no peer trusts it, so dialback is needed. */
  selfSigned(domain: string): {cert: string; key: string; both: string}
}

/** A private CA in `dir` (openssl), and certificates it signs on demand. */
export function createPki(dir: string): Pki {
  const ca = path.join(dir, 'ca.crt')
  const caKey = path.join(dir, 'ca.key')
  const openssl = (...args: string[]) => execFileSync('openssl', args, {stdio: ['ignore', 'ignore', 'pipe']})
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', caKey, '-out', ca, '-days', '2', '-subj', '/CN=xmppctl test CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign')
  const pair = (name: string) => ({cert: path.join(dir, `${name}.crt`), key: path.join(dir, `${name}.key`), both: path.join(dir, `${name}.pem`)})
  const combine = (files: {cert: string; key: string; both: string}) => {
    writeFileSync(files.both, execFileSync('cat', [files.cert, files.key]))
    return files
  }

  // XEP-0178 §3: a DNS-ID and the XmppAddr and SRV-ID of the domain.
  const extensions = (domain: string) => `subjectAltName=DNS:${domain},otherName:1.3.6.1.5.5.7.8.5;UTF8:${domain},otherName:1.3.6.1.5.5.7.8.7;IA5:_xmpp-server.${domain}`
  return {
    dir,
    ca,
    issue(domain, options = {}) {
      const files = pair(options.dnsOnly ? `${domain}-dns` : domain)
      const csr = path.join(dir, `${domain}.csr`)
      const ext = path.join(dir, `${domain}.ext`)
      const services = (options.services ?? []).map((name) => `,DNS:${name}`).join('')
      writeFileSync(ext, `${options.dnsOnly ? `subjectAltName=DNS:${domain}` : extensions(domain)}${services}\nextendedKeyUsage=serverAuth,clientAuth\n`)
      openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', files.key, '-out', csr, '-subj', `/CN=${domain}`)
      openssl('x509', '-req', '-in', csr, '-CA', ca, '-CAkey', caKey, '-CAcreateserial', '-out', files.cert, '-days', '2', '-extfile', ext)
      return combine(files)
    },
    selfSigned(domain) {
      const files = pair(`${domain}-self`)
      openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', files.key, '-out', files.cert, '-days', '2', '-subj', `/CN=${domain}`, '-addext', `subjectAltName=DNS:${domain}`)
      return combine(files)
    },
  }
}
