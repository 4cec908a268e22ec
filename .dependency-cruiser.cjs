/**
 * The layers of src/ (DESIGN.md "Layout"), checked by `npm run lint`, which
 * `npm test` runs first: a module may import its own layer and the layers
 * below it, never one above. Commands sit on top; nothing in src/ imports
 * them. A new directory under src/ must be placed here, or the build fails.
 */
const LAYERS = [
  // Foundations: no xmppctl imports beyond each other.
  ['src/errors.ts', 'src/paths.ts', 'src/suggest.ts', 'src/process-user.ts', 'src/secure-write.ts', 'src/system.ts', 'src/jid/', 'src/xml/'],
  ['src/config/'],
  ['src/tls/', 'src/sasl/'],
  ['src/store/'],
  ['src/accounts/'],
  ['src/auth/'],
  ['src/plugins/'],
  ['src/server/'],
  // Applications of the server and the stores: audits, migrations, admin commands' logic.
  ['src/audit/', 'src/migrate/', 'src/rooms/', 'src/upload/', 'src/archive/', 'src/running-server.ts'],
  ['src/cli/'],
  ['commands/'],
]

const escape = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
const pattern = (paths) => `^(${paths.map(escape).join('|')})`
// The plugin API is a types-only contract that depends on nothing; every layer may read it.
const CONTRACTS = '^src/plugins/api\\.d\\.ts$'

const upward = LAYERS.slice(0, -1).map((layer, index) => ({
  name: `layer-${index}-imports-above`,
  comment: `${layer.join(', ')} may import only ${index === 0 ? 'each other' : 'their own layer and those below'} (.dependency-cruiser.cjs LAYERS)`,
  severity: 'error',
  from: {path: pattern(layer)},
  to: {path: pattern(LAYERS.slice(index + 1).flat()), pathNot: CONTRACTS},
}))

module.exports = {
  forbidden: [
    ...upward,
    {
      name: 'unplaced-module',
      comment: 'every module of src/ belongs to a layer: add its directory to LAYERS in .dependency-cruiser.cjs',
      severity: 'error',
      from: {path: '^src/', pathNot: [pattern(LAYERS.flat()), CONTRACTS]},
      to: {},
    },
    {
      name: 'no-circular',
      comment: 'modules that import each other cannot be understood or tested apart: break the cycle',
      severity: 'error',
      from: {path: '^(src|commands)/'},
      to: {circular: true},
    },
  ],
  options: {
    tsConfig: {fileName: 'tsconfig.json'},
    // Type-only imports are dependencies too: a type from a higher layer ties the layers as much as a value does.
    tsPreCompilationDeps: true,
    doNotFollow: {path: 'node_modules'},
    exclude: {path: '^(dist|node_modules)/'},
  },
}
