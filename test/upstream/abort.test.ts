// Aborts: before, while connecting, while queued, while waiting for headers,
// mid-body, and the consumer destroying the body. An aborted request never
// leaves its socket in the pool, and no listener stays on the signal.

import t from 'tap'
import { getEventListeners } from 'node:events'
import { client, httpServer, rawServer, readAll, readError, sleep } from './fixtures/helpers.js'
import { until } from '../fixtures/wait.js'

const isAbort = (err: unknown): boolean => err instanceof Error && err.name === 'AbortError'

t.test('already aborted: rejects with the reason, connects nothing', async (t) => {
  const up = await httpServer(t, (_req, res) => res.end())
  const ac = new AbortController()
  const reason = new Error('client went away')
  ac.abort(reason)
  const err = await client(t).request({ method: 'GET', url: up.url, headers: {}, signal: ac.signal }).catch((e: unknown) => e)
  t.equal(err, reason)
  t.equal(up.connections, 0)
})

t.test('abort while connecting (TLS handshake pending)', async (t) => {
  const up = await rawServer(t, () => {})
  const c = client(t)
  const ac = new AbortController()
  const pending = c.request({ method: 'GET', url: new URL(`https://127.0.0.1:${up.port}/`), headers: {}, signal: ac.signal })
  await until(() => up.connections === 1)
  ac.abort()
  t.ok(isAbort(await pending.catch((e: unknown) => e)))
  await until(() => up.openSockets === 0)
  t.same(c.stats(), { open: 0, idle: 0, queued: 0 })
  t.equal(getEventListeners(ac.signal, 'abort').length, 0)
})

t.test('abort while waiting for headers', async (t) => {
  const up = await rawServer(t, () => {})
  const c = client(t)
  const ac = new AbortController()
  const pending = c.request({ method: 'GET', url: up.url, headers: {}, signal: ac.signal })
  await sleep(30)
  ac.abort()
  t.ok(isAbort(await pending.catch((e: unknown) => e)))
  await until(() => up.openSockets === 0)
  t.same(c.stats(), { open: 0, idle: 0, queued: 0 })
  t.equal(getEventListeners(ac.signal, 'abort').length, 0)
})

t.test('abort mid-body destroys the body and the socket', async (t) => {
  const up = await httpServer(t, (_req, res) => {
    res.writeHead(200, { 'content-length': '1000000' })
    res.write(Buffer.alloc(1000))
  })
  const c = client(t)
  const ac = new AbortController()
  const res = await c.request({ method: 'GET', url: up.url, headers: {}, signal: ac.signal })
  const failed = readError(res.body)
  await sleep(20)
  ac.abort()
  t.ok(isAbort(await failed))
  t.ok(res.body.destroyed)
  await until(() => up.openSockets === 0)
  t.same(c.stats(), { open: 0, idle: 0, queued: 0 })
  t.equal(getEventListeners(ac.signal, 'abort').length, 0)
})

t.test('the consumer destroying the body destroys the socket', async (t) => {
  const up = await httpServer(t, (_req, res) => {
    res.writeHead(200, { 'content-length': '1000000' })
    res.write(Buffer.alloc(1000))
  })
  const c = client(t)
  const res = await c.request({ method: 'GET', url: up.url, headers: {} })
  res.body.destroy()
  await until(() => up.openSockets === 0)
  t.same(c.stats(), { open: 0, idle: 0, queued: 0 })
  // the next request gets a new socket and works
  const again = await c.request({ method: 'GET', url: up.url, headers: {} })
  again.body.destroy()
  t.equal(up.connections, 2)
})

t.test('abort while queued: rejected, others unaffected', async (t) => {
  const up = await httpServer(t, (req, res) => setTimeout(() => res.end(req.url), 30))
  const c = client(t, { maxSocketsPerOrigin: 1 })
  const first = c.request({ method: 'GET', url: new URL('/1', up.url), headers: {} })
  const ac = new AbortController()
  const second = c.request({ method: 'GET', url: new URL('/2', up.url), headers: {}, signal: ac.signal })
  const third = c.request({ method: 'GET', url: new URL('/3', up.url), headers: {} })
  await sleep(5)
  t.same(c.stats(), { open: 1, idle: 0, queued: 2 })
  ac.abort()
  t.ok(isAbort(await second.catch((e: unknown) => e)))
  t.equal(c.stats().queued, 1)
  t.equal(getEventListeners(ac.signal, 'abort').length, 0)
  t.equal((await readAll((await first).body)).toString(), '/1')
  t.equal((await readAll((await third).body)).toString(), '/3')
  t.equal(up.connections, 1)
})

t.test('a completed request leaves no listener and its socket is pooled', async (t) => {
  const up = await httpServer(t, (_req, res) => res.end('ok'))
  const c = client(t)
  const ac = new AbortController()
  const res = await c.request({ method: 'GET', url: up.url, headers: {}, signal: ac.signal })
  t.equal((await readAll(res.body)).toString(), 'ok')
  await sleep(1)
  t.equal(getEventListeners(ac.signal, 'abort').length, 0)
  ac.abort()
  t.same(c.stats(), { open: 1, idle: 1, queued: 0 })
  const head = await c.request({ method: 'HEAD', url: up.url, headers: {}, signal: ac.signal }).catch((e: unknown) => e)
  t.ok(isAbort(head))
})

t.test('HEAD responses release their listener without being read', async (t) => {
  const up = await httpServer(t, (_req, res) => res.end('ok'))
  const c = client(t)
  const ac = new AbortController()
  await c.request({ method: 'HEAD', url: up.url, headers: {}, signal: ac.signal })
  t.equal(getEventListeners(ac.signal, 'abort').length, 0)
  t.same(c.stats(), { open: 1, idle: 1, queued: 0 })
})

t.test('abort after the response arrived in full still stops the reader', async (t) => {
  const up = await httpServer(t, (_req, res) => res.end('small'))
  const c = client(t)
  const ac = new AbortController()
  const res = await c.request({ method: 'GET', url: up.url, headers: {}, signal: ac.signal })
  await sleep(20) // the whole body is buffered; the socket is back in the pool
  t.same(c.stats(), { open: 1, idle: 1, queued: 0 })
  ac.abort()
  t.ok(isAbort(await readError(res.body)))
  t.same(c.stats(), { open: 1, idle: 1, queued: 0 }, 'the clean socket stays usable')
})
