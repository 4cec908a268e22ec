/**
 * The layer rules of .dependency-cruiser.cjs (issue 17) bite: a module that
 * imports a layer above its own, a module outside every layer, and a cycle
 * each fail `npm run lint`, which `npm test` runs first. Checked on a small
 * tree written here, so the rules are proven without breaking the real one.
 */
import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import {copyFileSync, mkdirSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {describe, it} from 'node:test'

import {projectRoot} from '../../../src/paths.js'
import {tempDir} from '../../helpers.js'

const root = projectRoot()

function cruise(t: {after(fn: () => void): void}, files: Record<string, string>): {status: number | null; output: string} {
  const dir = tempDir(t, 'xmppctl-layers-')
  copyFileSync(path.join(root, '.dependency-cruiser.cjs'), path.join(dir, '.dependency-cruiser.cjs'))
  writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({compilerOptions: {module: 'NodeNext', moduleResolution: 'NodeNext', strict: true}, include: ['src/**/*.ts']}))
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), {recursive: true})
    writeFileSync(path.join(dir, name), text)
  }

  const result = spawnSync(process.execPath, [path.join(root, 'node_modules/dependency-cruiser/bin/dependency-cruise.mjs'), '--config', '.dependency-cruiser.cjs', '--output-type', 'err', 'src'], {
    cwd: dir,
    encoding: 'utf8',
  })
  return {status: result.status, output: result.stdout + result.stderr}
}

describe('layer rules', () => {
  it('accept imports downwards', (t) => {
    const result = cruise(t, {
      'src/errors.ts': 'export class E extends Error {}\n',
      'src/store/index.ts': "import {E} from '../errors.js'\nexport const store = E\n",
      'src/server/core.ts': "import {store} from '../store/index.js'\nexport const core = store\n",
    })
    assert.equal(result.status, 0, result.output)
  })

  it('refuse an import of a higher layer, naming both modules and the rule', (t) => {
    const result = cruise(t, {
      'src/server/core.ts': 'export const core = 1\n',
      'src/store/index.ts': "import {core} from '../server/core.js'\nexport const store = core\n",
    })
    assert.notEqual(result.status, 0)
    assert.match(result.output, /error layer-3-imports-above: src\/store\/index\.ts → src\/server\/core\.ts/)
  })

  it('refuse a directory of src/ that no layer names', (t) => {
    const result = cruise(t, {
      'src/errors.ts': 'export class E extends Error {}\n',
      'src/gadgets/index.ts': "import {E} from '../errors.js'\nexport const gadget = E\n",
    })
    assert.notEqual(result.status, 0)
    assert.match(result.output, /error unplaced-module: src\/gadgets\/index\.ts → src\/errors\.ts/)
  })

  it('refuse a cycle inside one layer', (t) => {
    const result = cruise(t, {
      'src/config/a.ts': "import {b} from './b.js'\nexport const a = () => b\n",
      'src/config/b.ts': "import {a} from './a.js'\nexport const b = () => a\n",
    })
    assert.notEqual(result.status, 0)
    assert.match(result.output, /error no-circular: src\/config\/a\.ts →/)
  })
})
