// The CDN sends the right length with one byte flipped: the client's body is
// cut before its last chunk (never a complete wrong blob), nothing enters
// the cache, and the next pull succeeds.
import t from 'tap'
import { faultScenario } from './fixtures/harness.js'

for (const cache of [false, true]) {
  t.test(`wrong bytes (${cache ? 'cache fill' : 'uncached'})`, async (t) => {
    await faultScenario(t, {
      cache,
      inject: (h) => h.reg.fault('cdn', { kind: 'wrong' }, { times: 1 }),
      expect: (o, h) => {
        t.notOk(o.complete, 'the body was cut')
        t.ok(o.body.length < h.blob.length, 'the last chunk was held back')
      },
    })
  })
}
