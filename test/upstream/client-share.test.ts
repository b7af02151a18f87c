// Sharing an origin's sockets between clients (UpstreamRequest.client): one
// client holds at most its share, even while sockets sit idle, and others
// are served meanwhile; requests without a client are not limited; a queued
// request fails with UpstreamError('overload') at the queue deadline.

import type { ServerResponse } from 'node:http'
import t from 'tap'
import { UpstreamError } from '../../lib/errors.js'
import type { UpstreamClient } from '../../lib/upstream/client.js'
import { client, httpServer, readAll, sleep } from './fixtures/helpers.js'
import { until } from '../fixtures/wait.js'

/** An upstream that answers only when told to. */
async function heldUpstream(t: Parameters<typeof httpServer>[0]) {
  const waiting: ServerResponse[] = []
  const up = await httpServer(t, (req, res) => {
    res.setHeader('x-path', req.url ?? '')
    waiting.push(res)
  })
  return {
    up,
    waiting,
    answerAll: () => {
      for (const res of waiting.splice(0)) res.end('ok')
    },
  }
}

const get = (c: UpstreamClient, url: URL, who?: string) =>
  c.request({ method: 'GET', url, headers: {}, ...(who ? { client: who } : {}) }).then(async (r) => {
    await readAll(r.body)
    return r.headers['x-path']
  })

t.test('one client holds half the sockets; another is served meanwhile', async (t) => {
  const { up, waiting, answerAll } = await heldUpstream(t)
  const c = client(t, { maxSocketsPerOrigin: 4 })
  const a = [1, 2, 3, 4].map((i) => get(c, new URL(`/a${i}`, up.url), 'a'))
  await until(() => waiting.length === 2)
  await sleep(20)
  t.equal(waiting.length, 2, 'client a holds 2 of 4 sockets')
  t.same(c.stats(), { open: 2, idle: 0, queued: 2 }, 'its other requests wait')

  const b = get(c, new URL('/b', up.url), 'b')
  await until(() => waiting.length === 3)
  t.equal(waiting[2]?.getHeader('x-path'), '/b', 'client b is sent at once')
  waiting.pop()?.end('ok')
  t.equal(await b, '/b')
  await until(() => c.stats().idle === 1)
  t.same(c.stats(), { open: 3, idle: 1, queued: 2 }, 'an idle socket does not let a go past its share')

  answerAll()
  await until(() => waiting.length === 2)
  answerAll()
  t.same(await Promise.all(a), ['/a1', '/a2', '/a3', '/a4'], 'a is served in turn')
})

t.test('requests without a client, or a share as large as the pool, are not limited', async (t) => {
  const { up, waiting, answerAll } = await heldUpstream(t)
  const c = client(t, { maxSocketsPerOrigin: 3 })
  const own = [1, 2, 3].map((i) => get(c, new URL(`/${i}`, up.url)))
  await until(() => waiting.length === 3)
  answerAll()
  await Promise.all(own)

  const wide = client(t, { maxSocketsPerOrigin: 3, socketsPerClient: 3 })
  const all = [1, 2, 3].map((i) => get(wide, new URL(`/${i}`, up.url), 'a'))
  await until(() => waiting.length === 3)
  t.pass('one client takes all three sockets')
  answerAll()
  await Promise.all(all)
})

t.test('a request waits no longer than the queue deadline', async (t) => {
  const { up, waiting, answerAll } = await heldUpstream(t)
  const c = client(t, { maxSocketsPerOrigin: 1, queueTimeout: 200 })
  const first = get(c, up.url, 'a')
  await until(() => waiting.length === 1)
  const started = Date.now()
  const err = await get(c, up.url, 'b').catch((e: unknown) => e)
  t.type(err, UpstreamError)
  t.equal((err as UpstreamError).kind, 'overload', 'an overload (503 with Retry-After at the server)')
  t.ok(Date.now() - started >= 150, 'after the deadline')
  t.same(c.stats(), { open: 1, idle: 0, queued: 0 }, 'no longer queued')
  answerAll()
  t.equal(await first, '/')
})
