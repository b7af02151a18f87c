// Socket reuse and the pool: counted at the server, never guessed.

import t from 'tap'
import { UpstreamError } from '../../lib/errors.js'
import { client, httpServer, onRequestHeads, rawServer, readAll, sleep } from './fixtures/helpers.js'
import { until } from '../fixtures/wait.js'

t.test('sequential requests reuse one socket', async (t) => {
  const up = await httpServer(t, (req, res) => res.end(req.url))
  const c = client(t)
  for (let i = 0; i < 5; i++) {
    const res = await c.request({ method: 'GET', url: new URL(`/${i}`, up.url), headers: {} })
    t.equal((await readAll(res.body)).toString(), `/${i}`)
  }
  t.equal(up.connections, 1)
  t.same(c.stats(), { open: 1, idle: 1, queued: 0 })
})

t.test('Connection: close from the server ends the socket', async (t) => {
  const up = await httpServer(t, (_req, res) => {
    res.setHeader('connection', 'close')
    res.end('x')
  })
  const c = client(t)
  for (let i = 0; i < 3; i++) await readAll((await c.request({ method: 'GET', url: up.url, headers: {} })).body)
  t.equal(up.connections, 3)
  await until(() => c.stats().open === 0)
})

t.test('HTTP/1.0 without keep-alive is not reused; with keep-alive it is', async (t) => {
  const up = await rawServer(t, (s) => {
    onRequestHeads(s, (head) => {
      const ka = head.includes('/ka')
      s.write(`HTTP/1.0 200 OK\r\nContent-Length: 1\r\n${ka ? 'Connection: keep-alive\r\n' : ''}\r\nx`)
    })
  })
  const c = client(t)
  for (let i = 0; i < 2; i++) await readAll((await c.request({ method: 'GET', url: up.url, headers: {} })).body)
  t.equal(up.connections, 2)
  for (let i = 0; i < 2; i++) {
    await readAll((await c.request({ method: 'GET', url: new URL('/ka', up.url), headers: {} })).body)
  }
  t.equal(up.connections, 3)
})

t.test('the socket is reused only after the body was received to its end', async (t) => {
  const up = await httpServer(t, (req, res) => {
    if (req.url === '/slow') {
      res.writeHead(200, { 'content-length': '4' })
      res.write('ab')
      setTimeout(() => res.end('cd'), 50)
    } else res.end('fast')
  })
  const c = client(t)
  const slow = await c.request({ method: 'GET', url: new URL('/slow', up.url), headers: {} })
  const fast = await c.request({ method: 'GET', url: new URL('/fast', up.url), headers: {} })
  t.equal((await readAll(fast.body)).toString(), 'fast')
  t.equal((await readAll(slow.body)).toString(), 'abcd')
  t.equal(up.connections, 2, 'the second request did not wait on or share the busy socket')
})

t.test('pool bound: 10 concurrent requests with bound 2 use at most 2 sockets', async (t) => {
  let active = 0
  let peak = 0
  const up = await httpServer(t, (req, res) => {
    active++
    peak = Math.max(peak, active)
    setTimeout(() => {
      active--
      res.end(req.url)
    }, 20)
  })
  const c = client(t, { maxSocketsPerOrigin: 2 })
  const pending = Array.from({ length: 10 }, (_, i) =>
    c.request({ method: 'GET', url: new URL(`/${i}`, up.url), headers: {} }).then((r) => readAll(r.body)),
  )
  await sleep(5)
  t.same(c.stats(), { open: 2, idle: 0, queued: 8 })
  const bodies = await Promise.all(pending)
  t.same(
    bodies.map((b) => b.toString()),
    Array.from({ length: 10 }, (_, i) => `/${i}`),
  )
  t.equal(up.connections, 2)
  t.equal(peak, 2)
  t.same(c.stats(), { open: 2, idle: 2, queued: 0 })
})

t.test('queued requests are served in FIFO order', async (t) => {
  const order: string[] = []
  const up = await httpServer(t, (req, res) => {
    order.push(req.url ?? '')
    setTimeout(() => res.end(), 5)
  })
  const c = client(t, { maxSocketsPerOrigin: 1 })
  await Promise.all(
    ['/a', '/b', '/c', '/d'].map((p) =>
      c.request({ method: 'GET', url: new URL(p, up.url), headers: {} }).then((r) => readAll(r.body)),
    ),
  )
  t.same(order, ['/a', '/b', '/c', '/d'])
})

t.test('a stale kept-alive socket is retried once on a fresh one (GET)', async (t) => {
  // The first connection answers one request, then drops the socket when the
  // second request arrives: what a server's keep-alive timeout looks like
  // when the close races the client's next request.
  const up = await rawServer(t, (s, index) => {
    let n = 0
    onRequestHeads(s, () => {
      if (index === 0 && n++ > 0) {
        s.destroy()
        return
      }
      s.write(`HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n${index}${n}`)
    })
  })
  const c = client(t)
  t.equal((await readAll((await c.request({ method: 'GET', url: up.url, headers: {} })).body)).toString(), '01')
  const res = await c.request({ method: 'GET', url: up.url, headers: {} })
  t.equal((await readAll(res.body)).toString(), '10', 'answered by the second connection')
  t.equal(up.connections, 2)
})

t.test('a socket the server closed while idle leaves the pool', async (t) => {
  const up = await rawServer(t, (s) => {
    onRequestHeads(s, () => s.end('HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx'))
  })
  const c = client(t)
  await readAll((await c.request({ method: 'GET', url: up.url, headers: {} })).body)
  await until(() => c.stats().open === 0)
  await readAll((await c.request({ method: 'GET', url: up.url, headers: {} })).body)
  t.equal(up.connections, 2)
})

t.test('a stale socket is not retried for POST', async (t) => {
  const up = await rawServer(t, (s, index) => {
    let n = 0
    onRequestHeads(s, () => {
      if (index === 0 && n++ > 0) s.destroy()
      else s.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n')
    })
  })
  const c = client(t)
  await readAll((await c.request({ method: 'POST', url: up.url, headers: {} })).body)
  const err = await c.request({ method: 'POST', url: up.url, headers: {} }).catch((e: unknown) => e)
  t.type(err, UpstreamError)
  t.equal((err as UpstreamError).kind, 'reset')
  t.equal(up.connections, 1)
})

t.test('Keep-Alive: timeout hint closes the idle socket before the server does', async (t) => {
  const up = await rawServer(t, (s) => {
    onRequestHeads(s, () => s.write('HTTP/1.1 200 OK\r\nKeep-Alive: timeout=1\r\nContent-Length: 0\r\n\r\n'))
  })
  const c = client(t)
  await readAll((await c.request({ method: 'GET', url: up.url, headers: {} })).body)
  t.equal(c.stats().open, 0, 'a 1 s hint leaves no usable window: not pooled')
})

t.test('bytes after a complete response: response served, socket not reused', async (t) => {
  const up = await rawServer(t, (s) => {
    onRequestHeads(s, () => s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokGARBAGE'))
  })
  const c = client(t)
  for (let i = 0; i < 2; i++) {
    const res = await c.request({ method: 'GET', url: up.url, headers: {} })
    t.equal((await readAll(res.body)).toString(), 'ok')
  }
  t.equal(up.connections, 2)
})

t.test('close() destroys idle sockets and rejects queued requests', async (t) => {
  const up = await httpServer(t, (_req, res) => setTimeout(() => res.end('x'), 30))
  const c = client(t, { maxSocketsPerOrigin: 1 })
  await readAll((await c.request({ method: 'GET', url: up.url, headers: {} })).body)
  t.equal(up.openSockets, 1)
  const busy = c.request({ method: 'GET', url: up.url, headers: {} })
  const queued = c.request({ method: 'GET', url: up.url, headers: {} })
  await sleep(5)
  t.same(c.stats(), { open: 1, idle: 0, queued: 1 })
  c.close()
  const err = await queued.catch((e: unknown) => e)
  t.type(err, UpstreamError)
  t.equal((await readAll((await busy).body)).toString(), 'x', 'the request in flight completes')
  await until(() => up.openSockets === 0)
  await t.rejects(c.request({ method: 'GET', url: up.url, headers: {} }), UpstreamError)
})
