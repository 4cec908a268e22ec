/**
 * Where xmppctl is installed. The same code runs from two layouts: the
 * TypeScript output (dist/src/**, what tests and the PBKDF2 worker use) and
 * the single-file bundle the CLI loads (dist/cli.cjs), so a path relative to
 * the current file would be right in only one of them. The package root is
 * found instead, by walking up to xmppctl's own package.json.
 */
import {readFileSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

let root: string | undefined

/** The directory holding xmppctl's package.json. */
export function projectRoot(): string {
  root ??= findProjectRoot(path.dirname(fileURLToPath(import.meta.url)))
  return root
}

/** A file of the TypeScript build (dist/src), e.g. a worker that must run as its own module. */
export function compiledFile(relative: string): string {
  return path.join(projectRoot(), 'dist', 'src', relative)
}

function findProjectRoot(start: string): string {
  for (let dir = start; ; dir = path.dirname(dir)) {
    try {
      if ((JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as {name?: unknown}).name === 'xmppctl') return dir
    } catch {
      // No package.json here, or not JSON: keep walking up.
    }

    if (path.dirname(dir) === dir) throw new Error(`xmppctl's package.json was not found above ${start}`)
  }
}

/** A path as shown to the user: relative to the working directory when inside it. */
export function displayPath(file: string, cwd = process.cwd()): string {
  // A store's location may be a postgresql:// URL, which is no path to shorten.
  if (!path.isAbsolute(file)) return file
  const relative = path.relative(cwd, file)
  return relative && !relative.startsWith('..') && !path.isAbsolute(relative) ? relative : file
}
