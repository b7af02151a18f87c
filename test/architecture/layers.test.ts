// The layout of lib/ is the architecture (README "Code map"): data flows one
// way, and no folder imports back from one that depends on it. This reads
// the import statements of every lib/**/*.ts file (type-only imports too: a
// type names an idea as much as a value does) and fails on
//   (a) two folders (or top-level files) that import each other,
//   (b) an import cycle between files,
//   (c) an import of a unit listed *after* the importer in LAYERS.
// A new folder or top-level file must be placed in LAYERS, or this fails too.
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import ts from 'typescript'

const LIB = resolve(dirname(fileURLToPath(import.meta.url)), '../../lib')

/**
 * Lowest first: a unit (a folder of lib/, or a file at its top) may import
 * only units listed before it. layers.json is read by dependency-cruiser's
 * rules too (dependency-cruiser.cjs, `npm run layers`). Keep README "Code
 * map" and docs/architecture.md in step with it.
 */
export const LAYERS = JSON.parse(readFileSync(join(dirname(fileURLToPath(import.meta.url)), 'layers.json'), 'utf8')) as [layer: string, units: string[]][]

const order = new Map<string, number>()
for (const [, units] of LAYERS) for (const u of units) order.set(u, order.size)

function listTs(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name)
    if (e.isDirectory()) return listTs(p)
    return e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [p] : []
  })
}

/** 'cache/' for lib/cache/…, 'errors.ts' for lib/errors.ts. */
function unitOf(file: string): string {
  const rel = relative(LIB, file).split(/[\\/]/)
  return rel.length > 1 ? `${rel[0]}/` : rel[0]!
}

interface Edge {
  from: string
  to: string
  line: number
}

function importsOf(file: string): Edge[] {
  const src = readFileSync(file, 'utf8')
  const info = ts.preProcessFile(src, true, true)
  const edges: Edge[] = []
  for (const ref of info.importedFiles) {
    if (!ref.fileName.startsWith('.')) continue
    const to = resolve(dirname(file), ref.fileName.replace(/\.js$/, '.ts'))
    if (!to.startsWith(LIB)) continue
    const line = src.slice(0, ref.pos).split('\n').length
    edges.push({ from: file, to, line })
  }
  return edges
}

const show = (e: Edge) => `lib/${relative(LIB, e.from)}:${e.line} imports lib/${relative(LIB, e.to)}`

export function checkLayers(): { unplaced: string[]; twoWay: string[]; cycles: string[]; upward: string[] } {
  const files = listTs(LIB)
  const edges = files.flatMap(importsOf)

  const unplaced = [...new Set(files.map(unitOf))].filter((u) => !order.has(u)).map((u) => `lib/${u} is in no layer of LAYERS`)

  // (a) two-way dependencies between units
  const between = new Map<string, Edge[]>()
  for (const e of edges) {
    const a = unitOf(e.from)
    const b = unitOf(e.to)
    if (a === b) continue
    const k = `${a} -> ${b}`
    between.set(k, [...(between.get(k) ?? []), e])
  }
  const twoWay: string[] = []
  for (const [k, es] of between) {
    const [a, b] = k.split(' -> ') as [string, string]
    const back = between.get(`${b} -> ${a}`)
    if (!back || a > b) continue
    twoWay.push(`${a} <-> ${b}:\n    ${[...es, ...back].map(show).join('\n    ')}`)
  }

  // (b) cycles between files: strongly connected components (Tarjan)
  const out = new Map<string, Edge[]>()
  for (const e of edges) out.set(e.from, [...(out.get(e.from) ?? []), e])
  const index = new Map<string, number>()
  const low = new Map<string, number>()
  const stack: string[] = []
  const onStack = new Set<string>()
  const cycles: string[] = []
  const visit = (v: string): void => {
    index.set(v, index.size)
    low.set(v, index.get(v)!)
    stack.push(v)
    onStack.add(v)
    for (const e of out.get(v) ?? []) {
      if (!index.has(e.to)) {
        visit(e.to)
        low.set(v, Math.min(low.get(v)!, low.get(e.to)!))
      } else if (onStack.has(e.to)) low.set(v, Math.min(low.get(v)!, index.get(e.to)!))
    }
    if (low.get(v) !== index.get(v)) return
    const members = new Set<string>()
    let w: string
    do {
      w = stack.pop()!
      onStack.delete(w)
      members.add(w)
    } while (w !== v)
    if (members.size > 1) {
      const inside = [...members].flatMap((m) => (out.get(m) ?? []).filter((e) => members.has(e.to)))
      cycles.push(`cycle of ${members.size} files:\n    ${inside.map(show).join('\n    ')}`)
    }
  }
  for (const f of files) if (!index.has(f)) visit(f)

  // (c) imports that go up the layer order
  const upward = edges
    .filter((e) => {
      const a = order.get(unitOf(e.from))
      const b = order.get(unitOf(e.to))
      return a !== undefined && b !== undefined && unitOf(e.from) !== unitOf(e.to) && b > a
    })
    .map((e) => `${show(e)}: ${unitOf(e.to)} is above ${unitOf(e.from)} in LAYERS`)

  return { unplaced, twoWay, cycles, upward }
}

const found = checkLayers()

/** Fails listing every offending import, one per line. */
function none(t: Test, what: string, list: string[]): void {
  if (list.length) t.comment(`${what}:\n  ${list.join('\n  ')}`)
  t.same(list, [], what)
}

t.test('every unit of lib/ has a place in the layer order', async (t) => {
  none(t, 'units missing from LAYERS (test/architecture/layers.test.ts)', found.unplaced)
})

t.test('no two folders of lib/ import each other', async (t) => {
  none(t, 'two-way dependencies', found.twoWay)
})

t.test('no import cycle between files of lib/', async (t) => {
  none(t, 'import cycles', found.cycles)
})

t.test('imports go down the layer order only', async (t) => {
  none(t, 'imports against the layer order', found.upward)
})

t.test('the checker sees the imports it is meant to judge', async (t) => {
  // Guards against a parser that silently finds nothing (every check above
  // would then pass): lib/server.ts's handlers import must be seen.
  const edges = importsOf(join(LIB, 'server.ts')).map((e) => relative(LIB, e.to))
  t.ok(edges.includes(join('handlers', 'v2.ts')), `lib/server.ts imports seen: ${edges.join(', ')}`)
  t.ok(edges.some((e) => e === 'errors.ts'), 'a plain value import of ../errors.js is seen')
})
