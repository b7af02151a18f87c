// A fill belongs to one upstream. One that trickles (hostile, or a stuck
// connection) holds up neither another upstream's pulls of the same digest
// nor, past --follow-timeout, a second pull through the same upstream: that
// one fetches on its own.
import { randomBytes } from 'node:crypto'
import t from 'tap'
import { startTestProxy } from '../fixtures/proxy.js'
import { fetchOutcome } from './fixtures/harness.js'
import { startLenientRegistry } from './fixtures/lenient-registry.js'
import { sha256 } from '../fixtures/sha256.js'

t.test("a trickling upstream's fill does not stall another upstream's pull of the same digest", async (t) => {
  const layer = randomBytes(2 * 1024 * 1024)
  const L = sha256(layer)
  const honest = await startLenientRegistry({ repos: { 'lib/app': { blobs: [layer] } } })
  const slow = await startLenientRegistry({ repos: { 'lib/app': { blobs: [layer] } }, trickle: 2000 })
  t.teardown(() => Promise.all([honest.close(), slow.close()]))
  const proxy = await startTestProxy(t, {
    registryMap: { default: honest.url, slow: slow.url },
    domainSuffix: 'crproxy.test',
    cacheDir: t.testdir(),
  })
  const pinned = fetchOutcome(proxy.url, `/v2/lib/app/blobs/${L}`, { headers: { host: 'slow.crproxy.test' }, timeoutMs: 15_000 })
  for (let i = 0; i < 100 && slow.blobGets(L) === 0; i++) await new Promise((r) => setTimeout(r, 20))
  t.equal(slow.blobGets(L), 1, 'the slow upstream is filling')
  const started = Date.now()
  const o = await fetchOutcome(proxy.url, `/v2/lib/app/blobs/${L}`, { timeoutMs: 10_000 })
  t.ok(o.complete && o.status === 200 && o.body.equals(layer), `the honest upstream's pull completes (${o.body.length} bytes, ${o.error ?? 'ok'})`)
  t.ok(Date.now() - started < 8000, 'without waiting on the other fill')
  t.equal(honest.blobGets(L), 1, 'from its own upstream')
  const p = await pinned
  t.notOk(p.complete && p.status === 200, 'the trickled pull never completed in the meantime')
})

t.test('a follower of a fill that makes no progress fetches on its own after --follow-timeout', async (t) => {
  const layer = randomBytes(2 * 1024 * 1024)
  const L = sha256(layer)
  // The first GET trickles (a stuck connection); later ones are fast.
  const reg = await startLenientRegistry({ repos: { 'lib/app': { blobs: [layer] } }, trickle: 2000, trickleGets: 1 })
  t.teardown(() => reg.close())
  const proxy = await startTestProxy(t, { registryMap: { default: reg.url }, cacheDir: t.testdir(), followTimeout: 1000 })
  const stuck = fetchOutcome(proxy.url, `/v2/lib/app/blobs/${L}`, { timeoutMs: 12_000 })
  for (let i = 0; i < 100 && reg.blobGets(L) === 0; i++) await new Promise((r) => setTimeout(r, 20))
  const started = Date.now()
  for (const range of [undefined, 'bytes=1000-1999']) {
    const o = await fetchOutcome(proxy.url, `/v2/lib/app/blobs/${L}`, { timeoutMs: 10_000, headers: range ? { range } : {} })
    if (range) t.ok(o.complete && o.status === 206 && o.body.equals(layer.subarray(1000, 2000)), 'a Range gets its slice (from the upstream: the fill has not reached it)')
    else t.ok(o.complete && o.status === 200 && o.body.equals(layer), `the second pull completes (${o.error ?? 'ok'})`)
  }
  t.ok(Date.now() - started < 8000, 'within a few seconds, not after the stuck fill')
  t.ok(reg.blobGets(L) >= 3, 'by fetching on its own')
  await stuck
})
