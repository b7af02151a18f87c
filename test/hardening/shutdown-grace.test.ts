// Shutdown is bounded: close(grace) stops accepting, closes idle keep-alive
// connections at once, and after the grace period cuts downloads that are
// still running (a stalled upstream cannot hold the process); the cut fill
// leaves nothing in tmp/ and no descriptor open.
import http from 'node:http'
import t from 'tap'
import { startHarness } from './fixtures/harness.js'
import { fdSnapshot } from './fixtures/fds.js'
import { waitFor } from '../fixtures/wait.js'

t.test('close(grace) with an idle keep-alive client and a stalled fill', async (t) => {
  const h = await startHarness(t, { cache: true, proxy: { client: { connectTimeout: 1000, headerTimeout: 2000, idleTimeout: 30_000 }, fillTimeout: 30_000 } })
  // An idle keep-alive connection, as containerd keeps them.
  const agent = new http.Agent({ keepAlive: true })
  t.teardown(() => agent.destroy())
  await new Promise<void>((resolve) => http.get(`${h.proxy.url}/healthz`, { agent }, (res) => res.resume().on('end', resolve)))
  // A fill whose upstream stalls.
  h.reg.fault('cdn', { kind: 'stall-body', after: 256 * 1024 })
  const stalled = h.get(h.blobPath)
  await waitFor(() => h.reg.bodyBytesSent.cdn, (n) => n > 64 * 1024 + 128 * 1024, 3000)

  const started = Date.now()
  await h.proxy.close(500)
  const took = Date.now() - started
  t.ok(took < 2000, `close() returned after ${took} ms (grace 500 ms)`)
  const o = await stalled
  t.notOk(o.complete, 'the stalled download was cut')
  await waitFor(() => h.proxy.deps.cache?.stats().inflightFills, (n) => n === 0, 2000)
  t.equal(h.reg.openSockets('cdn'), 0, 'the stalled upstream socket was closed')
  const now = await waitFor(() => fdSnapshot(), (s) => s.sockets < h.baseline.sockets, 3000)
  t.ok(now.sockets < h.baseline.sockets, `the listening socket and every connection are closed (${now.sockets} < ${h.baseline.sockets})`)
  t.same(now.files.filter((f) => f.startsWith(h.cacheDir!)), [], 'no cache file open')
})
