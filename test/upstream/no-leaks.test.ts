// Nothing the client leaves behind holds the process open: a pooled idle
// socket is unref'd, and no request timer outlives its request. Checked the
// only way that is observable: a child process that is never told to close
// its client exits on its own, long before the 30 s keep-alive or timeouts.

import t from 'tap'
import { spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { onRequestHeads, rawServer } from './fixtures/helpers.js'

const clientModule = pathToFileURL(join(import.meta.dirname, '../../lib/upstream/client.js')).href
// Only the TypeScript loader tap runs us with, not its process-info hooks.
const loader = process.execArgv.filter((a) => a.includes('@tapjs/typescript'))

function runChild(script: string, dir: string): Promise<{ code: number | null; out: string; ms: number }> {
  const file = join(dir, 'child.ts')
  writeFileSync(file, script)
  const started = Date.now()
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...loader, file], { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout.on('data', (d: Buffer) => (out += d.toString()))
    const kill = setTimeout(() => child.kill(), 15_000)
    child.on('exit', (code) => {
      clearTimeout(kill)
      resolve({ code, out, ms: Date.now() - started })
    })
  })
}

t.test('a process with an idle pooled socket and finished requests exits by itself', async (t) => {
  // Keeps its sockets open for as long as the client does.
  const up = await rawServer(t, (s) =>
    onRequestHeads(s, (head) =>
      s.write(`HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n${head.startsWith('HEAD') ? '' : 'ok'}`),
    ),
  )
  const refused = await rawServer(t, (s) => s.destroy())
  const script = `
import { UpstreamClient, defaultClientOptions } from ${JSON.stringify(clientModule)}
const c = new UpstreamClient(defaultClientOptions())
const ac = new AbortController()
const res = await c.request({ method: 'GET', url: new URL(${JSON.stringify(up.url.href)}), headers: {}, signal: ac.signal })
let n = 0
for await (const chunk of res.body) n += chunk.length
await c.request({ method: 'HEAD', url: new URL(${JSON.stringify(up.url.href)}), headers: {}, signal: ac.signal })
await c.request({ method: 'GET', url: new URL(${JSON.stringify(refused.url.href)}), headers: {} }).catch(() => {})
console.log(JSON.stringify({ n, stats: c.stats() }))
`
  const { code, out, ms } = await runChild(script, t.testdir())
  t.equal(code, 0)
  t.same(JSON.parse(out), { n: 2, stats: { open: 1, idle: 1, queued: 0 } })
  t.ok(ms < 8_000, `exited after ${ms} ms with a socket still pooled`)
})
