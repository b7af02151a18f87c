#!/usr/bin/env node
// Summarises a V8 .cpuprofile (from `node --cpu-prof`): self time by function
// and by source file, heaviest first. Usage: node bench/cpu-top.mjs file [n]
import { readFileSync } from 'node:fs'

const [file, top = '25'] = process.argv.slice(2)
if (!file) {
  console.error('usage: node bench/cpu-top.mjs <file.cpuprofile> [n]')
  process.exit(2)
}
const prof = JSON.parse(readFileSync(file, 'utf8'))
const byId = new Map(prof.nodes.map((n) => [n.id, n]))
const self = new Map()
const dt = prof.timeDeltas
for (let i = 0; i < prof.samples.length; i++) self.set(prof.samples[i], (self.get(prof.samples[i]) ?? 0) + (dt[i] ?? 0))
const total = [...self.values()].reduce((a, b) => a + b, 0)
const fn = new Map()
const files = new Map()
for (const [id, us] of self) {
  const n = byId.get(id)
  const cf = n.callFrame
  const where = cf.url ? cf.url.replace(/^.*\/(node_modules\/|dist\/|lib\/)/, '$1') : '(native)'
  const key = `${cf.functionName || '(anonymous)'}  ${where}:${cf.lineNumber + 1}`
  fn.set(key, (fn.get(key) ?? 0) + us)
  files.set(where, (files.get(where) ?? 0) + us)
}
const show = (m) =>
  [...m]
    .sort((a, b) => b[1] - a[1])
    .slice(0, Number(top))
    .map(([k, us]) => `${((100 * us) / total).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(0).padStart(6)} ms  ${k}`)
    .join('\n')
console.log(`total ${(total / 1000).toFixed(0)} ms sampled\n\nby function (self):\n${show(fn)}\n\nby file (self):\n${show(files)}`)
