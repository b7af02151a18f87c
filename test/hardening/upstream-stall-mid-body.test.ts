// The CDN sends part of a blob and then nothing, keeping the socket open:
// the upstream idle timeout cuts the client's body (never complete), the
// stalled upstream socket is closed, nothing is cached, and the next pull
// succeeds.
import t from 'tap'
import { faultScenario } from './fixtures/harness.js'

for (const cache of [false, true]) {
  t.test(`stall mid-body (${cache ? 'cache fill' : 'uncached'})`, async (t) => {
    const started = Date.now()
    await faultScenario(t, {
      cache,
      inject: (h) => h.reg.fault('cdn', { kind: 'stall-body', after: 256 * 1024 }, { times: 1 }),
      expect: (o, h) => {
        t.notOk(o.complete, 'the body was cut')
        t.ok(Date.now() - started < 8000, 'within the idle timeout, not a hang')
        t.equal(h.reg.openSockets('cdn'), 0, 'the stalled CDN socket was closed by the proxy')
      },
    })
  })
}
