// A shared cache never serves a blob where the upstream itself would not:
//
//   - within one upstream, a repository that the upstream does not let read a
//     blob is not served the cached copy, even from a lenient registry that
//     answers HEAD for any digest it stores (the check is a GET, as a pull);
//   - the answer does not tell whether the digest is cached;
//   - a request routed to another upstream (another map entry, or `?ns=`) is
//     never served this upstream's copy, Range included: it fetches from its
//     own upstream.
import { randomBytes } from 'node:crypto'
import t from 'tap'
import { request, startTestProxy } from '../fixtures/proxy.js'
import { startLenientRegistry } from './fixtures/lenient-registry.js'
import { fetchOutcome } from './fixtures/harness.js'
import { sha256 } from '../fixtures/sha256.js'

function withoutDigest(body: Buffer, digest: string): string {
  return body.toString().split(digest).join('<digest>')
}

t.test('lenient registry: another repository is not served a private cached layer', async (t) => {
  const secret = randomBytes(256 * 1024)
  const other = randomBytes(256 * 1024) // private too, never pulled
  const pub = randomBytes(1024)
  const reg = await startLenientRegistry({
    repos: { 'team-a/private': { token: 'tok-a', blobs: [secret, other] }, 'team-b/app': { blobs: [pub] } },
  })
  t.teardown(() => reg.close())
  const proxy = await startTestProxy(t, { registryMap: { default: reg.url }, cacheDir: t.testdir() })
  const S = sha256(secret)
  const O = sha256(other)

  const owner = await request(proxy.url, `/v2/team-a/private/blobs/${S}`, { headers: { authorization: 'Bearer tok-a' } })
  t.equal(owner.status, 200, "the owner's pull")
  t.ok(owner.body.equals(secret))
  t.ok(proxy.deps.cache?.cached(S), 'and it is cached')

  const head = await request(proxy.url, `/v2/team-b/app/blobs/${S}`, { method: 'HEAD' })
  const headUncached = await request(proxy.url, `/v2/team-b/app/blobs/${O}`, { method: 'HEAD' })
  t.equal(head.status, 200, "a HEAD gets the lenient upstream's own answer")
  t.equal(headUncached.status, head.status, 'whether the digest is cached or not')

  const direct = await request(reg.url, `/v2/team-b/app/blobs/${S}`)
  t.equal(direct.status, 404, 'the upstream refuses the GET from team-b')
  const viaProxy = await request(proxy.url, `/v2/team-b/app/blobs/${S}`)
  t.equal(viaProxy.status, 404, 'so does the proxy, although it holds the blob')
  t.notOk(viaProxy.body.includes(secret.subarray(0, 64)), 'no byte of the layer')
  t.equal(viaProxy.body.toString(), direct.body.toString(), "the upstream's own answer, relayed")

  const ranged = await request(proxy.url, `/v2/team-b/app/blobs/${S}`, { headers: { range: 'bytes=0-99' } })
  t.equal(ranged.status, 404, 'a Range request is refused too')

  // Same question for a private digest that is not cached: the same answer.
  const uncached = await request(proxy.url, `/v2/team-b/app/blobs/${O}`)
  t.equal(uncached.status, viaProxy.status, 'cached or not: same status')
  t.equal(withoutDigest(uncached.body, O), withoutDigest(viaProxy.body, S), 'cached or not: same body')
  t.same(Object.keys(uncached.headers).filter((h) => h !== 'date' && h !== 'x-request-id').sort(),
    Object.keys(viaProxy.headers).filter((h) => h !== 'date' && h !== 'x-request-id').sort(), 'cached or not: same headers')

  const anonCached = await request(proxy.url, `/v2/team-a/private/blobs/${S}`)
  const anonUncached = await request(proxy.url, `/v2/team-a/private/blobs/${O}`)
  t.equal(anonCached.status, 401, 'no token: 401 for the cached one')
  t.equal(anonUncached.status, 401, 'and for the uncached one')
  t.equal(withoutDigest(anonCached.body, S), withoutDigest(anonUncached.body, O), 'with the same body')

  t.equal((await request(proxy.url, `/v2/team-a/private/blobs/${S}`, { headers: { authorization: 'Bearer tok-a' } })).status, 200, 'the owner still pulls')
})

t.test('another upstream is never served this upstream cached blob', async (t) => {
  const layer = randomBytes(512 * 1024)
  const L = sha256(layer)
  const good = await startLenientRegistry({ repos: { 'lib/app': { token: 'tok', blobs: [layer] } } })
  // Answers 200 to HEAD and GET for any digest; its GET sends other bytes.
  const evil = await startLenientRegistry({ repos: {}, anyDigest: true })
  t.teardown(() => Promise.all([good.close(), evil.close()]))
  const proxy = await startTestProxy(t, {
    registryMap: { default: good.url, evil: evil.url },
    domainSuffix: 'crproxy.test',
    cacheDir: t.testdir(),
  })
  const filled = await request(proxy.url, `/v2/lib/app/blobs/${L}`, { headers: { authorization: 'Bearer tok' } })
  t.ok(filled.status === 200 && filled.body.equals(layer), 'filled from the good upstream')

  const routes: Array<{ label: string; path: string; headers: Record<string, string> }> = [
    { label: 'Host evil.<suffix>', path: `/v2/lib/app/blobs/${L}`, headers: { host: 'evil.crproxy.test' } },
    { label: '?ns=<evil host>', path: `/v2/lib/app/blobs/${L}?ns=${encodeURIComponent(evil.host)}`, headers: {} },
  ]
  for (const r of routes) {
    for (const range of [undefined, 'bytes=0-99', 'bytes=1000-2000']) {
      const before = evil.blobGets(L)
      const o = await fetchOutcome(proxy.url, r.path, { headers: { ...r.headers, ...(range ? { range } : {}) } })
      const label = `${r.label}${range ? ` Range ${range}` : ''}`
      t.ok(evil.blobGets(L) > before, `${label}: the request went to its own upstream`)
      // A Range on a miss is that upstream's own answer, passed on
      // (cold-range.ts): not verifiable, and never the cached layer.
      if (!range) t.notOk(o.complete && o.status === 200, `${label}: no complete answer (the bytes it sent do not verify)`)
      const start = range ? Number(/=(\d+)/.exec(range)![1]) : 0
      const leaked = o.body.length > 0 && layer.subarray(start, start + o.body.length).equals(o.body)
      t.notOk(leaked, `${label}: not one byte of the cached layer (${o.body.length} bytes received)`)
    }
  }
  const again = await request(proxy.url, `/v2/lib/app/blobs/${L}`, { headers: { authorization: 'Bearer tok' } })
  t.ok(again.status === 200 && again.body.equals(layer), 'the good upstream is still served from the cache')
  t.equal(good.blobGets(L), 1, '(one GET, the fill)')
})

t.test('a blob two upstreams both hold is served to each once each delivered it', async (t) => {
  const layer = randomBytes(300 * 1024)
  const L = sha256(layer)
  const a = await startLenientRegistry({ repos: { 'x/y': { blobs: [layer] } } })
  const b = await startLenientRegistry({ repos: { 'x/y': { blobs: [layer] } } })
  t.teardown(() => Promise.all([a.close(), b.close()]))
  const proxy = await startTestProxy(t, { registryMap: { default: a.url, b: b.url }, domainSuffix: 'crproxy.test', cacheDir: t.testdir() })
  for (let i = 0; i < 2; i++) {
    const viaA = await request(proxy.url, `/v2/x/y/blobs/${L}`)
    const viaB = await request(proxy.url, `/v2/x/y/blobs/${L}`, { host: 'b.crproxy.test' })
    t.ok(viaA.body.equals(layer) && viaB.body.equals(layer), `round ${i + 1}: both get the layer`)
  }
  t.equal(a.blobGets(L), 1, 'upstream a sent it once')
  t.equal(b.blobGets(L), 1, 'upstream b sent it once, then was served from the cache')
})
