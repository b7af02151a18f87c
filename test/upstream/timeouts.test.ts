// Connect, header and idle timeouts, and connection failures, each mapped to
// its UpstreamError kind.

import t from 'tap'
import net from 'node:net'
import { UpstreamError } from '../../lib/errors.js'
import { client, httpServer, rawServer, readError, sleep } from './fixtures/helpers.js'
import { until } from '../fixtures/wait.js'

const kindOf = (err: unknown): string | undefined => (err instanceof UpstreamError ? err.kind : undefined)

t.test('connection refused → connect', async (t) => {
  const probe = net.createServer()
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r))
  const port = (probe.address() as net.AddressInfo).port
  await new Promise<void>((r) => probe.close(() => r()))
  const c = client(t)
  const err = await c.request({ method: 'GET', url: new URL(`http://127.0.0.1:${port}/`), headers: {} }).catch((e: unknown) => e)
  t.equal(kindOf(err), 'connect')
  t.equal((err as UpstreamError).origin, `http://127.0.0.1:${port}`)
  t.match((err as Error & { cause?: { code?: string } }).cause, { code: 'ECONNREFUSED' })
  t.same(c.stats(), { open: 0, idle: 0, queued: 0 })
})

t.test('unresolvable host → connect', async (t) => {
  const err = await client(t)
    .request({ method: 'GET', url: new URL('http://does-not-exist.invalid/'), headers: {} })
    .catch((e: unknown) => e)
  t.equal(kindOf(err), 'connect')
})

t.test('connect timeout covers the TLS handshake', async (t) => {
  // Accepts TCP, never speaks TLS.
  const up = await rawServer(t, () => {})
  const started = Date.now()
  const c = client(t, { connectTimeout: 150 })
  const err = await c
    .request({ method: 'GET', url: new URL(`https://127.0.0.1:${up.port}/`), headers: {} })
    .catch((e: unknown) => e)
  t.equal(kindOf(err), 'timeout')
  t.ok(Date.now() - started >= 140)
  await until(() => up.openSockets === 0)
  t.same(c.stats(), { open: 0, idle: 0, queued: 0 })
})

t.test('header timeout: the server never answers', async (t) => {
  const up = await rawServer(t, () => {})
  const c = client(t, { headerTimeout: 150 })
  const err = await c.request({ method: 'GET', url: up.url, headers: {} }).catch((e: unknown) => e)
  t.equal(kindOf(err), 'timeout')
  t.match((err as Error).message, /no response headers/)
  await until(() => up.openSockets === 0)
  t.same(c.stats(), { open: 0, idle: 0, queued: 0 })
})

t.test('header timeout: headers started but never finished', async (t) => {
  const up = await rawServer(t, (s) => s.once('data', () => s.write('HTTP/1.1 200 OK\r\nContent-Le')))
  const err = await client(t, { headerTimeout: 150 })
    .request({ method: 'GET', url: up.url, headers: {} })
    .catch((e: unknown) => e)
  t.equal(kindOf(err), 'timeout')
})

t.test('idle timeout: the body stalls', async (t) => {
  const up = await httpServer(t, (_req, res) => {
    res.writeHead(200, { 'content-length': '1000' })
    res.write(Buffer.alloc(100))
  })
  const c = client(t, { idleTimeout: 150 })
  const res = await c.request({ method: 'GET', url: up.url, headers: {} })
  const err = await readError(res.body)
  t.equal(kindOf(err), 'timeout')
  t.match((err as Error).message, /stalled .* after 100 bytes/)
  await until(() => up.openSockets === 0)
  t.same(c.stats(), { open: 0, idle: 0, queued: 0 })
})

t.test('idle timeout is re-armed by every byte', async (t) => {
  const up = await httpServer(t, (_req, res) => {
    res.writeHead(200, { 'content-length': '8' })
    let n = 0
    const tick = setInterval(() => {
      res.write('x')
      if (++n === 8) {
        clearInterval(tick)
        res.end()
      }
    }, 40)
  })
  const res = await client(t, { idleTimeout: 120 }).request({ method: 'GET', url: up.url, headers: {} })
  t.equal(await readError(res.body), null, 'a slow but steady body is not idle')
})

t.test('a slow reader is not an idle upstream', async (t) => {
  const size = 4 * 1024 * 1024
  const up = await httpServer(t, (_req, res) => {
    res.writeHead(200, { 'content-length': String(size) })
    res.end(Buffer.alloc(size, 7))
  })
  const res = await client(t, { idleTimeout: 100 }).request({ method: 'GET', url: up.url, headers: {} })
  await sleep(300) // nobody reads: the socket is paused, the idle timer is off
  t.equal(await readError(res.body), null)
})

t.test('premature EOF mid-headers → reset', async (t) => {
  const up = await rawServer(t, (s) => s.once('data', () => s.end('HTTP/1.1 200 OK\r\nContent-Le')))
  const err = await client(t).request({ method: 'GET', url: up.url, headers: {} }).catch((e: unknown) => e)
  t.equal(kindOf(err), 'reset')
})

t.test('connection reset before any response → reset', async (t) => {
  const up = await rawServer(t, (s) => s.once('data', () => s.resetAndDestroy()))
  const err = await client(t).request({ method: 'GET', url: up.url, headers: {} }).catch((e: unknown) => e)
  t.equal(kindOf(err), 'reset')
})

t.test('short Content-Length body → the body errors with reset, never ends cleanly', async (t) => {
  const up = await rawServer(t, (s) =>
    s.once('data', () => s.end(`HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n${'x'.repeat(500)}`)),
  )
  const c = client(t)
  const res = await c.request({ method: 'GET', url: up.url, headers: {} })
  let ended = false
  res.body.on('end', () => (ended = true))
  const err = await readError(res.body)
  t.equal(kindOf(err), 'reset')
  t.match((err as Error).message, /after 500 bytes/)
  t.notOk(ended)
  t.same(c.stats(), { open: 0, idle: 0, queued: 0 })
})

t.test('truncated chunked body → reset', async (t) => {
  const up = await rawServer(t, (s) =>
    s.once('data', () => s.end('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n5\r\nwo')),
  )
  const res = await client(t).request({ method: 'GET', url: up.url, headers: {} })
  t.equal(kindOf(await readError(res.body)), 'reset')
})

t.test('reset mid-body → reset', async (t) => {
  const up = await rawServer(t, (s) =>
    s.once('data', () => {
      s.write(`HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n${'x'.repeat(1000)}`)
      setTimeout(() => s.resetAndDestroy(), 20)
    }),
  )
  const res = await client(t).request({ method: 'GET', url: up.url, headers: {} })
  t.equal(kindOf(await readError(res.body)), 'reset')
})

t.test('malformed status line → protocol', async (t) => {
  const up = await rawServer(t, (s) => s.once('data', () => s.write('SMTP ready\r\n\r\n')))
  const err = await client(t).request({ method: 'GET', url: up.url, headers: {} }).catch((e: unknown) => e)
  t.equal(kindOf(err), 'protocol')
})

t.test('bad chunk framing mid-body → the body errors with protocol', async (t) => {
  const up = await rawServer(t, (s) =>
    s.once('data', () => {
      s.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n')
      setTimeout(() => s.write('3\r\nabcXX\r\n'), 10)
    }),
  )
  const res = await client(t).request({ method: 'GET', url: up.url, headers: {} })
  t.equal(kindOf(await readError(res.body)), 'protocol')
})

t.test('conflicting Content-Length headers → protocol', async (t) => {
  const up = await rawServer(t, (s) =>
    s.once('data', () => s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc')),
  )
  const err = await client(t).request({ method: 'GET', url: up.url, headers: {} }).catch((e: unknown) => e)
  t.equal(kindOf(err), 'protocol')
})
