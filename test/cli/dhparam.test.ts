import assert from 'node:assert/strict'
import {spawn, spawnSync} from 'node:child_process'
import {existsSync, readFileSync, statSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {describe, it} from 'node:test'

import {encodeDhParams} from '../../src/tls/dhparam.js'
import {BIN, type CliResult, runCli, tempDir} from '../helpers.js'

function setup(t: {after(fn: () => void): void}) {
  const dir = tempDir(t)
  const cli = (args: string[]): Promise<CliResult> => runCli(args, {cwd: dir})
  return {dir, cli}
}

function opensslCheck(file: string): {status: number | null; output: string} {
  const result = spawnSync('openssl', ['dhparam', '-in', file, '-check', '-text', '-noout'], {encoding: 'utf8'})
  return {status: result.status, output: result.stdout + result.stderr}
}

describe('dhparam generate', () => {
  for (const group of ['ffdhe2048', 'ffdhe3072', 'ffdhe4096']) {
    it(`writes ${group} instantly, as PKCS#3 PEM that openssl recognises and checks`, async (t) => {
      const {cli, dir} = setup(t)
      const result = await cli(['dhparam', 'generate', '--group', group, '--out', 'dh.pem'])
      assert.deepEqual(result, {status: 0, stdout: `wrote dh.pem (${group}, ${group.slice(5)} bits, generator 2)\n`, stderr: ''})
      const file = path.join(dir, 'dh.pem')
      assert.match(readFileSync(file, 'utf8'), /^-----BEGIN DH PARAMETERS-----\n[\s\S]+\n-----END DH PARAMETERS-----\n$/)
      assert.equal(statSync(file).mode & 0o777, 0o644)
      const check = opensslCheck(file)
      assert.equal(check.status, 0)
      assert.match(check.output, new RegExp(`GROUP: ${group}`))
      assert.match(check.output, /DH parameters appear to be ok/)
    })
  }

  it('writes ffdhe3072 to standard output by default, and its PEM under --json', async (t) => {
    const {cli} = setup(t)
    const result = await cli(['dhparam', 'generate'])
    assert.equal(result.status, 0)
    assert.match(result.stdout, /^-----BEGIN DH PARAMETERS-----\nMIIBiAKCAYEA\/\/\/\/\/\/\/\/\/\/\+t\+FRYortKmq/)
    const body = JSON.parse((await cli(['dhparam', 'generate', '--json'])).stdout)
    assert.deepEqual({...body, pem: undefined}, {group: 'ffdhe3072', bits: 3072, generator: 2, file: null, pem: undefined})
    assert.equal(body.pem, result.stdout)
  })

  it('generates a fresh safe prime with --bits, with progress on stderr; dhparam check calls 512 bits an error', async (t) => {
    const {cli, dir} = setup(t)
    const result = await cli(['dhparam', 'generate', '--bits', '512', '--out', 'small.pem'])
    assert.equal(result.status, 0, result.stderr)
    assert.equal(result.stdout, 'wrote small.pem (generated safe prime, 512 bits, generator 2)\n')
    assert.match(result.stderr, /a 512-bit prime is breakable/)
    assert.match(result.stderr, /generating a 512-bit safe prime \(Ctrl-C to stop\)/)
    const file = path.join(dir, 'small.pem')
    assert.equal(opensslCheck(file).status, 0)
    assert.doesNotMatch(opensslCheck(file).output, /GROUP:/)
    const check = await cli(['dhparam', 'check', 'small.pem', '--json'])
    assert.equal(check.status, 1)
    const body = JSON.parse(check.stdout)
    assert.equal(body.bits, 512)
    assert.equal(body.pPrime, true)
    assert.equal(body.safePrime, true)
    assert.equal(body.generatorInSubgroup, true)
    assert.deepEqual(body.findings.map((finding: {id: string; severity: string}) => `${finding.severity} ${finding.id}`), ['error dh-too-small'])
  })

  it('stops on Ctrl-C with exit 130 and writes nothing', async (t) => {
    const {dir} = setup(t)
    const env: NodeJS.ProcessEnv = {...process.env, NO_COLOR: '1'}
    delete env.XMPPCTL_CONFIG
    const child = spawn(process.execPath, [BIN, 'dhparam', 'generate', '--bits', '8192', '--out', 'big.pem'], {cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe']})
    let stderr = ''
    const status = new Promise<number | null>((resolve) => child.on('close', resolve))
    await new Promise<void>((resolve) => {
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
        stderr += chunk
        if (stderr.includes('Ctrl-C to stop')) resolve()
      })
    })
    child.kill('SIGINT')
    assert.equal(await status, 130)
    assert.match(stderr, /interrupted: nothing was written\n$/)
    assert.equal(existsSync(path.join(dir, 'big.pem')), false)
  })

  it('refuses to overwrite --out without --force', async (t) => {
    const {cli, dir} = setup(t)
    writeFileSync(path.join(dir, 'dh.pem'), 'old\n')
    const result = await cli(['dhparam', 'generate', '--out', 'dh.pem'])
    assert.equal(result.status, 2)
    assert.match(result.stderr, /^error: .*dh\.pem already exists \(pass --force/)
    assert.equal(readFileSync(path.join(dir, 'dh.pem'), 'utf8'), 'old\n')
    assert.equal((await cli(['dhparam', 'generate', '--out', 'dh.pem', '--force'])).status, 0)
  })

  it('refuses --group with --bits', async (t) => {
    const {cli} = setup(t)
    const result = await cli(['dhparam', 'generate', '--group', 'ffdhe2048', '--bits', '2048'])
    assert.equal(result.status, 2)
    assert.match(result.stderr, /^error: --group and --bits cannot be used together \(use --group/)
  })
})

describe('dhparam check', () => {
  it('passes an RFC 7919 group and names it', async (t) => {
    const {cli} = setup(t)
    await cli(['dhparam', 'generate', '--out', 'dh.pem'])
    const result = await cli(['dhparam', 'check', 'dh.pem'])
    assert.equal(result.status, 0)
    assert.match(result.stdout, /^dh\.pem: 3072 bits, generator 2, RFC 7919 ffdhe3072\n/)
  })

  it('checks parameters openssl generated', async (t) => {
    const {cli, dir} = setup(t)
    spawnSync('openssl', ['dhparam', '-out', path.join(dir, 'o.pem'), '-2', '512'])
    const body = JSON.parse((await cli(['dhparam', 'check', 'o.pem', '--json'])).stdout)
    assert.equal(body.safePrime, true)
    assert.equal(body.group, null)
  })

  const bad: Array<[string, (dir: string) => void, RegExp]> = [
    ['a missing file', () => {}, /^error: .*dh\.pem does not exist \(check the path\)/],
    ['garbage', (dir) => writeFileSync(path.join(dir, 'dh.pem'), 'garbage\n'), /^error: .*dh\.pem: contains no PEM data/],
    ['a key instead of parameters', (dir) => spawnSync('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', path.join(dir, 'dh.pem')]), /^error: .*dh\.pem: contains PRIVATE KEY where DH parameters were expected/],
    ['a prime too large to check', (dir) => writeFileSync(path.join(dir, 'dh.pem'), encodeDhParams({p: (1n << 65_536n) + 1n, g: 2n})), /^error: .*dh\.pem: the prime is 65537 bits, more than the 8192 this command checks \(use an RFC 7919 group: "xmppctl dhparam generate --group ffdhe3072", or parameters of at most 8192 bits\)\n$/],
    ['a broken structure', (dir) => writeFileSync(path.join(dir, 'dh.pem'), '-----BEGIN DH PARAMETERS-----\nMAMCAQ==\n-----END DH PARAMETERS-----\n'), /^error: .*dh\.pem: the DH parameters do not parse/],
  ]
  for (const [what, make, expected] of bad) {
    it(`refuses ${what} with exit 2 and one line`, async (t) => {
      const {cli, dir} = setup(t)
      make(dir)
      const result = await cli(['dhparam', 'check', 'dh.pem'])
      assert.equal(result.status, 2)
      assert.match(result.stderr, expected)
      assert.equal(result.stderr.split('\n').length, 2)
    })
  }
})
