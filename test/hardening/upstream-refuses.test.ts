// An upstream (the registry, or its CDN) that refuses connections: a fast
// 502 BAD_GATEWAY registry error, nothing cached or left open, and the next
// pull succeeds once it listens again.
import t from 'tap'
import { faultScenario, isRegistryError } from './fixtures/harness.js'

for (const cache of [false, true]) {
  for (const role of ['registry', 'cdn'] as const) {
    t.test(`${role} refuses (${cache ? 'cache' : 'no cache'})`, async (t) => {
      await faultScenario(t, {
        cache,
        inject: (h) => h.reg.refuse(role),
        expect: (o) => {
          t.equal(o.status, 502)
          t.ok(isRegistryError(o) && /BAD_GATEWAY/.test(o.body.toString()), 'BAD_GATEWAY registry error')
        },
      }).then(() => {})
    })
  }
}
