// The CDN announces the whole length and closes after fewer bytes: the
// client's body is cut (never complete), nothing is cached, and the next
// pull succeeds.
import t from 'tap'
import { faultScenario } from './fixtures/harness.js'

for (const cache of [false, true]) {
  t.test(`fewer bytes than Content-Length (${cache ? 'cache fill' : 'uncached'})`, async (t) => {
    await faultScenario(t, {
      cache,
      inject: (h) => h.reg.fault('cdn', { kind: 'short', after: h.blob.length - 1000 }, { times: 1 }),
      expect: (o) => void t.notOk(o.complete, 'the body was cut'),
    })
  })
}
