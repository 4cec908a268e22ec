import assert from 'node:assert/strict'
import {spawn, spawnSync} from 'node:child_process'
import {chmodSync, chownSync, existsSync, mkdirSync, readdirSync, statSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'
import {freePort, PROJECT_ROOT, tempDir} from '../helpers.js'

// The package as users get it (issue 17): `npm pack`, then `npm install -g` of the tarball into a
// prefix of its own. Once used by the user who installed it (a writable install), and once by
// another user who cannot write a byte of it, as with a system-wide `sudo npm install -g` or a
// distribution's package (a read-only install).
const root = process.getuid?.() === 0
const nobody = root ? spawnSync('id', ['-u', 'nobody'], {encoding: 'utf8'}) : undefined
const nobodyUid = nobody?.status === 0 ? Number(nobody.stdout.trim()) : undefined
const nobodyGid = nobodyUid === undefined ? undefined : Number(spawnSync('id', ['-g', 'nobody'], {encoding: 'utf8'}).stdout.trim())

interface Run {
  status: number | null
  stdout: string
  stderr: string
}

describe('xmppctl installed from its packed tarball', {timeout: 600_000}, () => {
  let dir = ''
  let tarball = ''
  let files: string[] = []
  let prefix = ''
  let packageDir = ''
  let bin = ''
  let installed = new Map<string, number>()
  /** What running the installed copy added to it or changed in it since the install. */
  const writtenInside = () => [...snapshot(packageDir)].filter(([file, mtime]) => installed.get(file) !== mtime).map(([file]) => file)

  // Removed when the suite ends, not when the hook that made it does.
  const cleanups: Array<() => void> = []
  after(() => cleanups.forEach((cleanup) => cleanup()))

  before(async () => {
    dir = tempDir({after: (cleanup) => cleanups.push(cleanup)})
    // Another user walks the paths to the installation: a temporary directory is 0700.
    chmodSync(dir, 0o755)
    const packed = spawnSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], {cwd: PROJECT_ROOT, encoding: 'utf8'})
    assert.equal(packed.status, 0, packed.stderr)
    const [{filename, files: listed}] = JSON.parse(packed.stdout) as Array<{filename: string; files: Array<{path: string}>}>
    tarball = path.join(dir, filename)
    files = listed.map((file) => file.path)
    prefix = path.join(dir, 'prefix')
    // better-sqlite3 is compiled here as on a user's machine; node-gyp may use both cores. The install
    // scripts are allowed as the README says: npm 12 runs none of a global install's unless named, and
    // names a tarball's own by its absolute file: path (checked with npm 12.2.3: named `xmppctl`, it was blocked).
    const allowed = `--allow-scripts=better-sqlite3,kerberos,file:${tarball}`
    const install = await npm(['install', '--global', '--prefix', prefix, '--no-audit', '--no-fund', '--prefer-offline', allowed, tarball], {JOBS: 'max'})
    assert.equal(install.status, 0, install.stderr)
    packageDir = path.join(prefix, 'lib', 'node_modules', 'xmppctl')
    bin = path.join(prefix, 'bin', 'xmppctl')
    installed = snapshot(packageDir)
  })

  it('ships what runs, and no tests, source maps or binaries built on the packer\'s machine', () => {
    assert.ok(files.includes('dist/cli.cjs'))
    assert.ok(files.includes('bin/run.js'))
    assert.ok(files.includes('dist/src/store/sqlite/archive-writer.js'), 'worker threads load compiled modules')
    assert.ok(files.includes('native/pam-helper.c'))
    assert.deepEqual(
      files.filter((file) => file.startsWith('dist/test/') || file.endsWith('.map') || file.startsWith('dist/native/') || file.endsWith('.cache') || file.startsWith('dist/commands/')),
      [],
    )
  })

  it('builds the PAM helper on the installing machine', () => {
    const helper = path.join(packageDir, 'dist', 'native', 'pam-helper')
    assert.ok(existsSync(helper), 'npm install ran scripts/build-pam-helper.js')
    assert.equal(statSync(helper).mode & 0o111, 0o111)
  })

  it('works for the user who installed it, with the code cache in that user\'s cache directory', async (t) => {
    const home = tempDir(t)
    await everyday(home, {})
    assert.ok(cacheFiles(path.join(home, 'cache', 'xmppctl')).length > 0, 'a code cache was written under XDG_CACHE_HOME')
    assert.deepEqual(writtenInside(), [], 'nothing was written into the installation')
  })

  it('works for a user who cannot write the installation: a read-only install', {skip: nobodyUid === undefined ? 'needs root and a "nobody" user' : false}, async (t) => {
    const home = tempDir(t)
    chmodSync(home, 0o755)
    chownSync(home, nobodyUid!, nobodyGid!)
    await everyday(home, {uid: nobodyUid, gid: nobodyGid})
    assert.ok(cacheFiles(path.join(home, 'cache', 'xmppctl')).length > 0, 'the user got a code cache of their own')
    assert.deepEqual(writtenInside(), [])
  })

  it('runs without a cache, and without a word, when the user has no cache directory it can write', {skip: nobodyUid === undefined ? 'needs root and a "nobody" user' : false}, async (t) => {
    const home = tempDir(t)
    chmodSync(home, 0o755)
    const work = path.join(home, 'work')
    mkdirSync(work)
    chownSync(work, nobodyUid!, nobodyGid!)
    // HOME and the cache directory belong to root: nobody can read but not write them.
    const env = {HOME: home, XDG_CACHE_HOME: path.join(home, 'cache')}
    const version = await xmppctl(['--version'], {cwd: work, env, uid: nobodyUid, gid: nobodyGid})
    assert.equal(version.status, 0, version.stderr)
    const config = writeConfigIn(work, await freePort())
    const added = await xmppctl(['user', 'add', 'carol@localhost', '--password-stdin', '-c', config], {cwd: work, env, uid: nobodyUid, gid: nobodyGid, stdin: 'a password for carol\n'})
    assert.equal(added.status, 0, added.stderr)
    assert.equal(added.stderr, '')
    assert.equal(existsSync(path.join(home, 'cache')), false)
  })

  /** --version, user add, test-auth and start, status and stop, as a user would, with HOME and the cache under `home`. */
  async function everyday(home: string, as: {uid?: number; gid?: number}) {
    const env = {HOME: home, XDG_CACHE_HOME: path.join(home, 'cache'), XDG_DATA_HOME: home, XDG_CONFIG_HOME: home}
    const options = {cwd: home, env, ...as}
    const version = await xmppctl(['--version'], options)
    assert.equal(version.status, 0, version.stderr)
    assert.match(version.stdout, /^xmppctl\/\d+\.\d+\.\d+ linux-/)

    const config = writeConfigIn(home, await freePort())
    const added = await xmppctl(['user', 'add', 'alice@localhost', '--password-stdin', '-c', config], {...options, stdin: 'a password for alice\n'})
    assert.equal(added.status, 0, added.stderr)
    const checked = await xmppctl(['test-auth', 'internal', 'alice@localhost', '--password-stdin', '-c', config], {...options, stdin: 'a password for alice\n'})
    assert.equal(checked.status, 0, checked.stdout + checked.stderr)

    const started = await xmppctl(['start', '-c', config], options)
    assert.equal(started.status, 0, started.stderr)
    try {
      const status = await xmppctl(['status', '-c', config], options)
      assert.equal(status.status, 0, status.stderr)
      assert.match(status.stdout, /^running \(pid \d+/)
    } finally {
      const stopped = await xmppctl(['stop', '-c', config], options)
      assert.equal(stopped.status, 0, stopped.stderr)
    }
  }

  function xmppctl(args: string[], options: {cwd: string; env: NodeJS.ProcessEnv; uid?: number; gid?: number; stdin?: string}): Promise<Run> {
    const env: NodeJS.ProcessEnv = {...process.env, NO_COLOR: '1', ...options.env}
    delete env.XMPPCTL_CONFIG
    return collect(spawn(process.execPath, [bin, ...args], {cwd: options.cwd, env, uid: options.uid, gid: options.gid, timeout: 60_000, killSignal: 'SIGKILL'}), options.stdin)
  }

  function npm(args: string[], env: NodeJS.ProcessEnv): Promise<Run> {
    return collect(spawn('npm', args, {cwd: dir, env: {...process.env, ...env}, timeout: 540_000, killSignal: 'SIGKILL'}))
  }
})

function collect(child: ReturnType<typeof spawn>, stdin?: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    let stdout = ''
    let stderr = ''
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk))
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
    child.on('error', reject)
    child.on('close', (status) => resolve({status, stdout, stderr}))
    child.stdin!.end(stdin ?? '')
  })
}

function writeConfigIn(dir: string, port: number): string {
  const file = path.join(dir, 'xmppctl.yml')
  writeFileSync(
    file,
    ['hosts: [localhost]', 'data_dir: data', 'auth_scram_iterations: 4096', 'listen:', `  - {port: ${port}, ip: 127.0.0.1, module: c2s, starttls: required}`, ''].join('\n'),
  )
  if (process.getuid?.() === 0 && statSync(dir).uid !== 0) chownSync(file, statSync(dir).uid, statSync(dir).gid)
  return file
}

function cacheFiles(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir, {recursive: true}).map(String) : []
}

/** Each path in the installation (its dependencies aside) with its modification time. */
function snapshot(packageDir: string): Map<string, number> {
  const entries = readdirSync(packageDir, {recursive: true})
    .map(String)
    .filter((file) => !file.startsWith(`node_modules${path.sep}`) && file !== 'node_modules')
  return new Map(entries.map((file) => [file, statSync(path.join(packageDir, file)).mtimeMs]))
}
