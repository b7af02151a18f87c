// The CDN sends more bytes than its Content-Length: the body ends where the
// framing says, the surplus never reaches the client (nor the cache), and
// the socket that carried it is never reused.
import t from 'tap'
import { faultScenario } from './fixtures/harness.js'
import { sha256 } from '../fixtures/sha256.js'
import { waitFor } from '../fixtures/wait.js'

for (const cache of [false, true]) {
  t.test(`more bytes than Content-Length (${cache ? 'cache fill' : 'uncached'})`, async (t) => {
    let cdnConnections = 0
    const h = await faultScenario(t, {
      cache,
      mayCache: true,
      inject: (h) => {
        h.reg.fault('cdn', { kind: 'long', extra: 4096 }, { times: 1 })
        cdnConnections = h.reg.connections.cdn
      },
      expect: async (o, h) => {
        await waitFor(() => h.reg.openSockets('cdn'), (n) => n === 0, 2000)
        t.equal(h.reg.openSockets('cdn'), 0, 'the proxy closed the socket that carried the surplus')
        if (o.complete) t.equal(o.body.length, h.blob.length, 'exactly the announced length, no surplus')
        t.notOk(o.body.includes(Buffer.alloc(64, 0x41)), 'the surplus bytes never reached the client')
      },
    })
    if (cache) t.ok(h.proxy.deps.cache?.cached(h.digest), 'what was cached is the framed body, which matched its digest')
    t.ok(h.reg.connections.cdn > cdnConnections, 'the CDN was asked')
    const again = await h.get(h.blobPath)
    t.equal(sha256(again.body), h.digest)
  })
}
