// A client reading a blob at 64 KiB/s does not make the proxy buffer the
// upstream. Uncached, the upstream is paced by the client (backpressure end
// to end: the CDN gets only a bounded amount ahead). For a cache fill the
// fill runs at disk speed and commits while the client is still near the
// start: the client reads the fill back from disk, so its buffer stays
// bounded, and once it speeds up it gets the whole verified blob.
import t from 'tap'
import { startHarness } from './fixtures/harness.js'
import { slowReader } from './fixtures/slow-reader.js'
import { waitFor } from '../fixtures/wait.js'

const MiB = 1024 * 1024
const SIZE = 64 * MiB

t.test('uncached: the upstream is paced by the client', async (t) => {
  const h = await startHarness(t, { blobSize: SIZE })
  const sentBefore = h.reg.bodyBytesSent.cdn
  const rssBefore = process.memoryUsage().rss
  const r = slowReader(h.proxy.url, h.blobPath, 64 * 1024)
  await new Promise((res) => setTimeout(res, 3000))
  const ahead = h.reg.bodyBytesSent.cdn - sentBefore - r.received
  const rss = process.memoryUsage().rss - rssBefore
  t.ok(r.received > 64 * 1024, `the client is reading (${r.received} bytes in 3 s)`)
  t.ok(ahead < 24 * MiB, `the CDN got only ${(ahead / MiB).toFixed(1)} MiB ahead of the client (not ${SIZE / MiB} MiB): socket buffers, no more`)
  t.ok(rss < 64 * MiB, `RSS grew by ${(rss / MiB).toFixed(1)} MiB`)
  r.setRate(Infinity)
  const done = await r.done
  t.ok(done.complete && done.digest === h.digest, 'full speed again: the whole blob, verified')
  await h.assertClean(t)
})

t.test('cache fill: the fill runs at disk speed, the client reads it back from disk', async (t) => {
  const h = await startHarness(t, { cache: true, blobSize: SIZE })
  const rssBefore = process.memoryUsage().rss
  const r = slowReader(h.proxy.url, h.blobPath, 64 * 1024)
  const started = Date.now()
  await waitFor(() => h.proxy.deps.cache?.cached(h.digest), (v) => v !== undefined, 20_000)
  const took = Date.now() - started
  t.ok(h.proxy.deps.cache?.cached(h.digest), `committed in ${took} ms`)
  t.ok(r.received < 16 * MiB, `while the client had read ${(r.received / MiB).toFixed(1)} MiB of ${SIZE / MiB}`)
  const rss = process.memoryUsage().rss - rssBefore
  t.ok(rss < 96 * MiB, `RSS grew by ${(rss / MiB).toFixed(1)} MiB (client buffer bounded; the blob is ${SIZE / MiB} MiB)`)
  r.setRate(Infinity)
  const done = await r.done
  t.ok(done.complete && done.digest === h.digest, 'full speed again: the whole blob, verified')
  await h.assertClean(t)
})
