// Builds one of xmppctl's small C helper programs into dist/native/. Never
// fails the build: without a C compiler or the library's headers it explains
// what to install and exits 0, so `npm ci` still installs the CLI; the backend
// that needs the helper then reports itself unavailable with the same advice.
import {spawnSync} from 'node:child_process'
import {existsSync, mkdirSync, rmSync} from 'node:fs'
import {fileURLToPath} from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))

/**
 * @param {{name: string, header: string, includeEnv: string, libraries: string[], hint: string}} helper
 *   name: native/NAME.c becomes dist/native/NAME; header: a header whose absence means the -dev package is missing.
 */
export function buildHelper({name, header, includeEnv, libraries, hint}) {
  const source = `${root}native/${name}.c`
  const outputDir = `${root}dist/native`
  const output = `${outputDir}/${name}`
  const compiler = process.env.CC || 'cc'
  const skip = (reason) => {
    process.stderr.write(`${name}: not built: ${reason}\n`)
    process.stderr.write(`${name}: ${hint}, then run "npm run build"\n`)
  }

  if (!existsSync(source)) return skip(`${source} is missing`)
  const includeDir = process.env[includeEnv]
  if (!existsSync(`/usr/include/${header}`) && !includeDir) return skip(`the headers (${header}) are not installed`)
  mkdirSync(outputDir, {recursive: true})
  const args = ['-O2', '-Wall', '-Wextra', '-o', output, source, ...libraries]
  if (includeDir) args.unshift(`-I${includeDir}`)
  const result = spawnSync(compiler, args, {stdio: ['ignore', 'inherit', 'pipe'], encoding: 'utf8'})
  if (result.error) return skip(`${compiler} cannot be run (${result.error.code ?? result.error.message})`)
  if (result.status !== 0) {
    rmSync(output, {force: true})
    return skip(`${compiler} failed:\n${result.stderr}`)
  }

  if (result.stderr) process.stderr.write(result.stderr)
  process.stderr.write(`${name}: built ${output}\n`)
}
