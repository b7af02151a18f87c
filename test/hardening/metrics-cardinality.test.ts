// An upstream that sends every request to a different host (here: a
// different closed port each time) cannot grow /metrics without end: host
// labels are bounded, the rest is counted as "other".
import t from 'tap'
import { MAX_HOST_LABELS } from '../../lib/upstream/timed-transport.js'
import { startHarness } from './fixtures/harness.js'

t.test('host labels are bounded', async (t) => {
  const h = await startHarness(t, {})
  for (let i = 0; i < MAX_HOST_LABELS + 40; i++) {
    h.reg.clearFaults()
    h.reg.fault('registry', { kind: 'redirect', location: `http://127.0.0.1:${1 + i}/x` }, { path: /blobs/ })
    await h.get(h.blobPath)
  }
  const metrics = (await h.get('/metrics')).body.toString()
  const hosts = new Set([...metrics.matchAll(/host="([^"]*)"/g)].map((m) => m[1]))
  t.ok(hosts.size <= MAX_HOST_LABELS + 1, `${hosts.size} distinct host labels (bound ${MAX_HOST_LABELS} + "other")`)
  t.ok(hosts.has('other'), 'the rest counted as other')
  await h.assertClean(t)
})
