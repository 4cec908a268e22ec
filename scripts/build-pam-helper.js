#!/usr/bin/env node
// Builds dist/native/pam-helper from native/pam-helper.c (`cc … -lpam`), the
// program the pam backend runs (like ejabberd's epam). Never fails the build:
// without a C compiler or the libpam headers it explains what to install and
// exits 0, so `npm ci` still installs the CLI; the pam backend then reports
// itself unavailable with the same advice.
import {spawnSync} from 'node:child_process'
import {existsSync, mkdirSync, rmSync} from 'node:fs'
import {fileURLToPath} from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const source = `${root}native/pam-helper.c`
const outputDir = `${root}dist/native`
const output = `${outputDir}/pam-helper`
const compiler = process.env.CC || 'cc'

function skip(reason) {
  process.stderr.write(`pam-helper: not built: ${reason}\n`)
  process.stderr.write('pam-helper: the pam auth backend will be unavailable; install a C compiler and libpam0g-dev (Debian/Ubuntu) or pam-devel (Fedora), then run "node scripts/build-pam-helper.js"\n')
  process.exit(0)
}

if (!existsSync(source)) skip(`${source} is missing`)
if (!existsSync('/usr/include/security/pam_appl.h') && !process.env.PAM_INCLUDE_DIR) skip('the libpam headers (security/pam_appl.h) are not installed')
mkdirSync(outputDir, {recursive: true})
const args = ['-O2', '-Wall', '-Wextra', '-o', output, source, '-lpam']
if (process.env.PAM_INCLUDE_DIR) args.unshift(`-I${process.env.PAM_INCLUDE_DIR}`)
const result = spawnSync(compiler, args, {stdio: ['ignore', 'inherit', 'pipe'], encoding: 'utf8'})
if (result.error) skip(`${compiler} cannot be run (${result.error.code ?? result.error.message})`)
if (result.status !== 0) {
  rmSync(output, {force: true})
  skip(`${compiler} failed:\n${result.stderr}`)
}

if (result.stderr) process.stderr.write(result.stderr)
process.stderr.write(`pam-helper: built ${output}\n`)
