// --max-conns-per-client bounds what one address holds, not only what it is
// served: a connection over the limit is closed by the proxy at once (after
// a 429 with Retry-After on plain HTTP), even if it never sends a byte.
// Idle connections from one address cannot pile up until a timeout, so
// other addresses and /healthz keep being served, even with few file
// descriptors to go round.
import { writeFileSync } from 'node:fs'
import net from 'node:net'
import { join } from 'node:path'
import t from 'tap'
import { startCliProxy } from '../fixtures/cli-proxy.js'
import { startHarness } from './fixtures/harness.js'
import { rawRequest } from './fixtures/raw-http.js'

interface Idle {
  socket: net.Socket
  /** Resolves when the server closed the connection: ms after connecting, and what it sent. */
  closed: Promise<{ ms: number; data: string }>
}

/** A connection that sends nothing. */
function idle(port: number, localAddress = '127.0.0.1'): Promise<Idle> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port, localAddress })
    let data = ''
    let connectedAt = 0
    const closed = new Promise<{ ms: number; data: string }>((done) => {
      const end = () => done({ ms: Date.now() - connectedAt, data })
      socket.once('end', end)
      socket.once('close', end)
    })
    socket.on('data', (c: Buffer) => (data += c.toString('latin1')))
    socket.on('error', () => {})
    socket.once('connect', () => {
      connectedAt = Date.now()
      socket.off('error', reject)
      resolve({ socket, closed })
    })
    socket.once('error', reject)
  })
}

const stillOpen = (i: Idle) => Promise.race([i.closed.then(() => false), new Promise<boolean>((r) => setTimeout(() => r(true), 300))])

const healthz = 'GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n'

t.test('over the limit, idle connections are closed at accept', async (t) => {
  const h = await startHarness(t, { proxy: { maxConnsPerClient: 4 } })
  const port = h.proxy.port
  const admitted = await Promise.all(Array.from({ length: 4 }, () => idle(port)))
  const extra = await Promise.all(Array.from({ length: 40 }, () => idle(port)))
  t.teardown(() => [...admitted, ...extra].forEach((i) => i.socket.destroy()))

  const results = await Promise.all(extra.map((i) => Promise.race([i.closed, new Promise<null>((r) => setTimeout(() => r(null), 5000))])))
  const slowest = Math.max(...results.map((r) => r?.ms ?? Infinity))
  t.ok(results.every((r) => r !== null && r.ms < 2000), `all 40 extra connections were closed by the proxy without a request (slowest after ${slowest} ms)`)
  const first = results[0]?.data ?? ''
  t.match(first, /^HTTP\/1\.1 429 /, 'after a 429')
  t.match(first, /\r\nretry-after: 1\r\n/i, 'with Retry-After')
  t.match(first, /"code":"TOOMANYREQUESTS"/, 'and a registry error body')

  for (const i of admitted) t.ok(await stillOpen(i), 'an admitted connection stays open')
  const held = await new Promise<number>((resolve) => h.proxy.server.getConnections((_, n) => resolve(n)))
  t.equal(held, 4, 'the proxy holds only the admitted connections')

  const other = await rawRequest(port, healthz, { localAddress: '127.0.0.2' })
  t.equal(other.status, 200, 'another address is served meanwhile')

  admitted[0]!.socket.destroy()
  await new Promise((r) => setTimeout(r, 100))
  const again = await rawRequest(port, healthz)
  t.equal(again.status, 200, 'under the limit again, the address is served')
  for (const i of admitted) i.socket.destroy()
  await h.assertClean(t)
})

t.test('with few file descriptors, /healthz still answers', async (t) => {
  const map = join(t.testdir(), 'map.json')
  writeFileSync(map, JSON.stringify({ default: 'http://127.0.0.1:9' }))
  const p = await startCliProxy(['--registry-map', map, '--max-conns-per-client', '8'], { fromSource: true, timeoutMs: 60_000, maxOpenFiles: 160 })
  t.teardown(() => p.stop())
  // Well past the descriptors the process has: each one accepted and kept
  // would take one.
  const flood: Idle[] = []
  t.teardown(() => flood.forEach((i) => i.socket.destroy()))
  for (let i = 0; i < 300; i++) flood.push(await idle(p.port))
  const closed = await Promise.all(flood.map((i) => Promise.race([i.closed.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 3000))])))
  t.equal(closed.filter(Boolean).length, 300 - 8, 'all but the admitted 8 were closed by the proxy')
  const other = await rawRequest(p.port, healthz, { localAddress: '127.0.0.2' })
  t.equal(other.status, 200, '/healthz answers another address')
})
