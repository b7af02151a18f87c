// dependency-cruiser's rules for lib/ (`npm run layers`, part of `npm test`
// and so of CI): no import cycle, and no import of a unit placed later in
// the layer order (layers.json, which test/architecture/layers.test.ts reads
// too; docs/architecture.md explains each layer). Type-only imports count:
// a type names an idea as much as a value does.
const { readFileSync } = require('node:fs')
const { join } = require('node:path')

const layers = JSON.parse(readFileSync(join(__dirname, 'layers.json'), 'utf8'))
const units = layers.flatMap(([, us]) => us)
const esc = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
/** `cache/` → every file under lib/cache/; `errors.ts` → lib/errors.ts. */
const pathOf = (u) => (u.endsWith('/') ? `^lib/${esc(u)}` : `^lib/${esc(u)}$`)

const upward = units.slice(0, -1).map((u, i) => ({
  name: `layer-order:${u}`,
  comment: `lib/${u} may import only units listed before it in test/architecture/layers.json`,
  severity: 'error',
  from: { path: pathOf(u) },
  to: { path: units.slice(i + 1).map(pathOf) },
}))

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'an import cycle between files of lib/',
      severity: 'error',
      from: { path: '^lib/' },
      to: { circular: true },
    },
    {
      name: 'placed-in-a-layer',
      comment: 'every folder and top-level file of lib/ has a place in test/architecture/layers.json',
      severity: 'error',
      from: { path: '^lib/', pathNot: units.map(pathOf) },
      to: {},
    },
    ...upward,
  ],
  options: {
    includeOnly: '^lib/',
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
}
