// A blob request the upstream refuses (401: no token yet, or an expired one)
// abandons its fill; the client's immediate retry with a token must fill
// and cache the blob, not mistake the abandoned fill's temp file (still
// being removed) for another process's lock and go uncached.
import t from 'tap'
import { TOKEN } from './fixtures/fault-registry.js'
import { asWriter, collect, makeBlob, openCache, upstreamBody, SOURCE } from '../cache/fixtures/helpers.js'
import { startHarness } from './fixtures/harness.js'
import { sha256 } from '../fixtures/sha256.js'
import { waitFor } from '../fixtures/wait.js'

t.test('401, then the retry with a token fills the cache', async (t) => {
  const h = await startHarness(t, { cache: true, registry: { auth: true } })
  let cached = 0
  const rounds = 20
  for (let i = 0; i < rounds; i++) {
    const b = h.addBlob(64 * 1024)
    const refused = await h.get(b.path, { headers: { authorization: '' } })
    t.equal(refused.status, 401)
    const ok = await h.get(b.path, { headers: { authorization: `Bearer ${TOKEN}` } })
    t.ok(ok.status === 200 && sha256(ok.body) === b.digest, `round ${i + 1}: served`)
    await waitFor(() => h.proxy.deps.cache?.cached(b.digest), (v) => v !== undefined, 1000)
    if (h.proxy.deps.cache?.cached(b.digest)) cached++
  }
  t.equal(cached, rounds, 'every retry filled the cache')
  await h.assertClean(t)
})

t.test('a claim right after an abandon is a writer, not a follower of the leftover', async (t) => {
  const cache = await openCache(t.testdir())
  t.teardown(() => cache.close())
  const blob = makeBlob(64 * 1024)
  const first = asWriter(await cache.claim(blob.digest, SOURCE))
  first.abandon() // its temp file is removed asynchronously
  const second = await cache.claim(blob.digest, SOURCE)
  t.equal(second?.role, 'writer', 'the retry fills (it waited for the cleanup)')
  const body = asWriter(second).fill(upstreamBody(blob.bytes), blob.bytes.length)
  t.ok((await collect(body)).equals(blob.bytes))
  await waitFor(() => cache.cached(blob.digest), (v) => v !== undefined, 1000)
  t.ok(cache.cached(blob.digest), 'and caches')
})
